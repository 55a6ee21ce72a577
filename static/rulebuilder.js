// Treu UI: the segment rule builder. The rule's JSON textarea is the form
// field and stays the truth: the builder reads it, and writes every edit back
// into it (firing "change", on which htmx asks the server for the live count).
// Without JavaScript, or for a rule the builder cannot show (a "not" of
// something other than "any"), the textarea is the editor. The DOM is built
// with createElement and textContent only, so typed values never become markup.
(function () {
	"use strict";

	var NUM = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;

	function el(tag, attrs, text) {
		var e = document.createElement(tag);
		if (attrs) {
			Object.keys(attrs).forEach(function (k) {
				if (attrs[k] !== undefined && attrs[k] !== null) {
					e.setAttribute(k, attrs[k]);
				}
			});
		}
		if (text !== undefined) {
			e.textContent = text;
		}
		return e;
	}

	function Builder(root, textarea, note, cfg) {
		this.root = root;
		this.textarea = textarea;
		this.note = note;
		this.cfg = cfg;
		this.fields = {};
		var self = this;
		cfg.fields.forEach(function (f) { self.fields[f.name] = f; });
		this.model = null;
		this.errorField = "";
	}

	Builder.prototype.field = function (name) {
		return this.fields[name] || this.cfg.fields[0];
	};

	// fromRule turns API-shaped JSON into the builder's model, or null.
	Builder.prototype.fromRule = function (r) {
		if (!r || typeof r !== "object" || Array.isArray(r)) {
			return null;
		}
		var keys = Object.keys(r);
		if (keys.length === 1 && Array.isArray(r.all)) {
			return this.group("all", r.all);
		}
		if (keys.length === 1 && Array.isArray(r.any)) {
			return this.group("any", r.any);
		}
		if (keys.length === 1 && r.not && typeof r.not === "object" && !Array.isArray(r.not) &&
			Object.keys(r.not).length === 1 && Array.isArray(r.not.any)) {
			return this.group("none", r.not.any);
		}
		var onlyCond = keys.every(function (k) { return k === "field" || k === "op" || k === "value"; });
		if (!onlyCond || typeof r.field !== "string" || typeof r.op !== "string") {
			return null;
		}
		var name = r.field, key = "";
		if (name.indexOf("attributes.") === 0) {
			key = name.slice("attributes.".length);
			name = "attributes.";
		}
		var f = this.fields[name];
		if (!f || f.ops.indexOf(r.op) < 0) {
			return null;
		}
		var text = this.valueText(f, r.op, r.value);
		if (text === null) {
			return null;
		}
		return {kind: "cond", field: name, key: key, op: r.op, value: text};
	};

	Builder.prototype.group = function (type, list) {
		var items = [];
		for (var i = 0; i < list.length; i++) {
			var m = this.fromRule(list[i]);
			if (!m) {
				return null;
			}
			items.push(m);
		}
		return {kind: "group", type: type, items: items};
	};

	// valueText is how a JSON value shows in the value box. For attributes a
	// string that would read back as a number or yes/no keeps its quotes.
	Builder.prototype.valueText = function (f, op, v) {
		if (v === undefined) {
			return "";
		}
		if (op === "exists") {
			return v === false ? "false" : "true";
		}
		var one = function (x) {
			if (typeof x === "string") {
				if (f.kind === "attr" && (NUM.test(x) || x === "true" || x === "false" || /^".*"$/.test(x))) {
					return JSON.stringify(x);
				}
				return x;
			}
			if (typeof x === "number" || typeof x === "boolean") {
				return String(x);
			}
			return null;
		};
		if (Array.isArray(v)) {
			var parts = v.map(one);
			return parts.indexOf(null) >= 0 ? null : parts.join(", ");
		}
		return one(v);
	};

	Builder.prototype.scalar = function (f, s) {
		if (f.kind === "number" && NUM.test(s)) {
			return Number(s);
		}
		if (f.kind === "attr") {
			if (NUM.test(s)) {
				return Number(s);
			}
			if (s === "true" || s === "false") {
				return s === "true";
			}
			if (/^".*"$/.test(s)) {
				try {
					return JSON.parse(s);
				} catch (e) {
					return s;
				}
			}
		}
		return s;
	};

	Builder.prototype.toRule = function (m) {
		var self = this;
		if (m.kind === "group") {
			var items = m.items.map(function (x) { return self.toRule(x); });
			if (m.type === "none") {
				return {not: {any: items}};
			}
			var g = {};
			g[m.type] = items;
			return g;
		}
		var f = this.field(m.field);
		var text = m.value.trim();
		var value;
		if (m.op === "exists") {
			value = text !== "false";
		} else if (m.op === "in") {
			value = text.split(",").map(function (s) { return s.trim(); })
				.filter(function (s) { return s !== ""; })
				.map(function (s) { return self.scalar(f, s); });
		} else if (m.op === "within_days") {
			value = NUM.test(text) ? Number(text) : text;
		} else {
			value = this.scalar(f, text);
		}
		return {field: m.field === "attributes." ? "attributes." + m.key.trim() : m.field, op: m.op, value: value};
	};

	// load reads the textarea; false when the builder cannot show its rule.
	Builder.prototype.load = function () {
		var parsed;
		try {
			parsed = JSON.parse(this.textarea.value);
		} catch (e) {
			return false;
		}
		var m = this.fromRule(parsed);
		if (m && m.kind === "cond") {
			m = {kind: "group", type: "all", items: [m]};
		}
		if (!m) {
			return false;
		}
		this.model = m;
		return true;
	};

	Builder.prototype.show = function (ok) {
		this.root.hidden = !ok;
		this.note.hidden = ok;
		this.note.textContent = ok ? "" : this.cfg.text.tooComplex;
		if (ok) {
			this.render();
		}
	};

	// sync writes the model into the textarea and asks for the count.
	Builder.prototype.sync = function () {
		this.textarea.value = JSON.stringify(this.toRule(this.model), null, 2);
		this.textarea.removeAttribute("aria-invalid");
		this.textarea.dispatchEvent(new Event("change", {bubbles: true}));
	};

	Builder.prototype.childPath = function (g, path, i) {
		return path + (g.type === "none" ? ".not.any" : "." + g.type) + "[" + i + "]";
	};

	Builder.prototype.render = function (focus) {
		this.root.textContent = "";
		this.root.appendChild(this.renderGroup(this.model, "rule", null, 1));
		if (focus) {
			var again = this.root.querySelector('[data-path="' + focus.path + '"][data-role="' + focus.role + '"]');
			if (again) {
				again.focus();
			}
		}
		this.mark(this.errorField);
	};

	Builder.prototype.renderGroup = function (g, path, parent, depth) {
		var self = this, text = this.cfg.text;
		var box = el("div", {"class": "rb-group", "data-path": path, role: "group"});
		var head = el("div", {"class": "rb-head"});
		head.appendChild(el("span", null, depth === 1 ? text.match : ""));
		var type = el("select", {"aria-label": text.match, "data-path": path, "data-role": "type"});
		["all", "any", "none"].forEach(function (t) {
			var o = el("option", {value: t}, self.cfg.groups[t]);
			if (t === g.type) {
				o.selected = true;
			}
			type.appendChild(o);
		});
		type.addEventListener("change", function () {
			g.type = type.value;
			self.sync();
			self.render({path: path, role: "type"});
		});
		head.appendChild(type);
		if (parent) {
			var rm = el("button", {type: "button", "class": "link rb-remove"}, text.remove);
			rm.addEventListener("click", function () {
				parent.items.splice(parent.items.indexOf(g), 1);
				self.sync();
				self.render();
			});
			head.appendChild(rm);
		}
		box.appendChild(head);
		if (g.items.length === 0 && depth === 1) {
			box.appendChild(el("p", {"class": "muted"}, text.everyone));
		}
		var list = el("ul", {"class": "rb-items"});
		g.items.forEach(function (item, i) {
			var li = el("li");
			var p = self.childPath(g, path, i);
			li.appendChild(item.kind === "group" ? self.renderGroup(item, p, g, depth + 1) : self.renderCond(item, p, g));
			list.appendChild(li);
		});
		box.appendChild(list);
		var add = el("div", {"class": "rb-add"});
		var addCond = el("button", {type: "button", "class": "secondary"}, text.addCond);
		addCond.addEventListener("click", function () {
			g.items.push({kind: "cond", field: "orders.count", key: "", op: "gte", value: "1"});
			self.sync();
			self.render({path: self.childPath(g, path, g.items.length - 1), role: "field"});
		});
		add.appendChild(addCond);
		if (depth < 3) {
			var addGroup = el("button", {type: "button", "class": "secondary"}, text.addGroup);
			addGroup.addEventListener("click", function () {
				g.items.push({kind: "group", type: "any", items: [{kind: "cond", field: "orders.count", key: "", op: "gte", value: "1"}]});
				self.sync();
				self.render();
			});
			add.appendChild(addGroup);
		}
		box.appendChild(add);
		return box;
	};

	Builder.prototype.renderCond = function (c, path, parent) {
		var self = this, text = this.cfg.text, f = this.field(c.field);
		var row = el("div", {"class": "rb-cond", "data-path": path});

		var field = el("select", {"aria-label": text.field, "data-path": path, "data-role": "field"});
		this.cfg.fields.forEach(function (x) {
			var o = el("option", {value: x.name}, x.label);
			if (x.name === c.field) {
				o.selected = true;
			}
			field.appendChild(o);
		});
		field.addEventListener("change", function () {
			c.field = field.value;
			var nf = self.field(c.field);
			if (nf.ops.indexOf(c.op) < 0) {
				c.op = nf.ops[0];
			}
			if (nf.kind !== f.kind) {
				c.value = c.op === "exists" ? "true" : "";
			}
			self.sync();
			self.render({path: path, role: "field"});
		});
		row.appendChild(field);

		if (f.kind === "attr") {
			var key = el("input", {type: "text", "aria-label": text.key, placeholder: text.key, value: c.key,
				"data-path": path, "data-role": "key", "class": "rb-key", maxlength: "64"});
			key.addEventListener("input", function () {
				c.key = key.value;
				self.sync();
			});
			row.appendChild(key);
		}

		var op = el("select", {"aria-label": text.op, "data-path": path, "data-role": "op"});
		f.ops.forEach(function (x) {
			var o = el("option", {value: x}, self.cfg.ops[x] || x);
			if (x === c.op) {
				o.selected = true;
			}
			op.appendChild(o);
		});
		op.addEventListener("change", function () {
			var was = c.op;
			c.op = op.value;
			if (c.op === "exists") {
				c.value = "true";
			} else if (was === "exists") {
				c.value = "";
			}
			self.sync();
			self.render({path: path, role: "op"});
		});
		row.appendChild(op);

		var value;
		if (c.op === "exists") {
			value = el("select", {"aria-label": text.value, "data-path": path, "data-role": "value"});
			[["true", text.yes], ["false", text.no]].forEach(function (x) {
				var o = el("option", {value: x[0]}, x[1]);
				if (x[0] === c.value) {
					o.selected = true;
				}
				value.appendChild(o);
			});
			value.addEventListener("change", function () {
				c.value = value.value;
				self.sync();
			});
		} else {
			var attrs = {type: "text", "aria-label": text.value, placeholder: text.value, value: c.value,
				"data-path": path, "data-role": "value", "class": "rb-value"};
			if ((f.kind === "date" || f.kind === "attr") && (c.op === "before" || c.op === "after")) {
				attrs.placeholder = "YYYY-MM-DD";
			}
			if (f.kind === "number" || c.op === "within_days") {
				attrs.inputmode = "decimal";
			}
			if (f.values && f.values.length) {
				attrs.list = "rb-values-" + f.name;
				if (!document.getElementById(attrs.list)) {
					var dl = el("datalist", {id: attrs.list});
					f.values.forEach(function (v) { dl.appendChild(el("option", {value: v})); });
					document.body.appendChild(dl);
				}
			}
			if (c.op === "in") {
				attrs.title = text.valueHintIn;
			}
			value = el("input", attrs);
			value.addEventListener("input", function () {
				c.value = value.value;
				self.sync();
			});
		}
		row.appendChild(value);

		var rm = el("button", {type: "button", "class": "link rb-remove", "aria-label": text.remove}, text.remove);
		rm.addEventListener("click", function () {
			parent.items.splice(parent.items.indexOf(c), 1);
			self.sync();
			self.render();
		});
		row.appendChild(rm);
		return row;
	};

	// mark shows which condition an error from the server is about: its
	// field names a place such as "rule.all[1].value".
	Builder.prototype.mark = function (field) {
		this.errorField = field || "";
		this.root.querySelectorAll(".rb-invalid").forEach(function (e) { e.classList.remove("rb-invalid"); });
		this.root.querySelectorAll("[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
		if (!field || field.indexOf("rule") !== 0) {
			return;
		}
		var best = null;
		this.root.querySelectorAll(".rb-cond[data-path], .rb-group[data-path]").forEach(function (e) {
			var p = e.getAttribute("data-path");
			if ((field === p || field.indexOf(p + ".") === 0 || field.indexOf(p + "[") === 0) &&
				(!best || p.length > best.getAttribute("data-path").length)) {
				best = e;
			}
		});
		if (!best) {
			return;
		}
		best.classList.add("rb-invalid");
		var rest = field.slice(best.getAttribute("data-path").length);
		var role = rest.indexOf(".field") === 0 ? "field" : rest.indexOf(".op") === 0 ? "op" :
			rest.indexOf(".value") === 0 ? "value" : "";
		if (role === "field" && best.querySelector('[data-role="key"]')) {
			role = "key";
		}
		var ctl = role && best.querySelector('[data-role="' + role + '"]');
		if (ctl) {
			ctl.setAttribute("aria-invalid", "true");
		}
	};

	function start() {
		var root = document.getElementById("rule-builder");
		var textarea = document.getElementById("seg-rule");
		var note = document.getElementById("builder-note");
		if (!root || !textarea || !note) {
			return;
		}
		var cfg;
		try {
			cfg = JSON.parse(root.getAttribute("data-config"));
		} catch (e) {
			return;
		}
		var b = new Builder(root, textarea, note, cfg);
		var form = textarea.form;
		b.errorField = form ? form.getAttribute("data-error-field") || "" : "";
		var ok = b.load();
		b.show(ok);
		if (ok && b.errorField.indexOf("rule") !== 0) {
			document.getElementById("rule-json").open = false;
		}
		// Typing JSON by hand: show it in the builder once it can.
		textarea.addEventListener("input", function () {
			b.show(b.load());
		});
		// The live count answers with the error's place; mark it.
		document.body.addEventListener("htmx:afterSwap", function (ev) {
			if (ev.target && ev.target.id === "seg-count") {
				var err = ev.target.querySelector("[data-field]");
				b.mark(err ? err.getAttribute("data-field") : "");
			}
		});
	}

	if (document.readyState === "loading") {
		document.addEventListener("DOMContentLoaded", start);
	} else {
		start();
	}
})();
