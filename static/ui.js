// Treu UI: the little JavaScript the pages need. Everything works without it
// except the live preview (htmx); this file only adds comfort.
(function () {
	"use strict";
	// Ask before destructive actions (erase, revoke, cancel). A form opts in with
	// data-confirm="question"; the text comes from the server, translated.
	document.addEventListener("submit", function (ev) {
		var q = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
		if (q && !window.confirm(q)) {
			ev.preventDefault();
		}
	}, true);
	// Copy buttons: data-copy="element id".
	document.addEventListener("click", function (ev) {
		var id = ev.target.getAttribute && ev.target.getAttribute("data-copy");
		if (!id || !navigator.clipboard) {
			return;
		}
		var el = document.getElementById(id);
		if (el) {
			navigator.clipboard.writeText(el.textContent.trim());
			ev.target.textContent = ev.target.getAttribute("data-copied") || "OK";
		}
	});
})();
