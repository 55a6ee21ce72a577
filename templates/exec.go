package templates

// The fast executor. text/template and html/template evaluate every field,
// method and function of a template through reflection, which costs about a
// microsecond per action; a campaign has dozens. So Compile also turns the
// parse trees (the HTML one after html/template has escaped it, so every
// action already carries its escapers) into a small program per footer
// language:
//
//   - text and everything that depends only on the language and the shop
//     (.L, .Shop, literals, outlookBegin ...) is evaluated once, in Compile,
//     and becomes static text;
//   - what is left (the recipient's values, {{ if }}, {{ range }}) is run by
//     a direct interpreter for the usual shapes of mail templates, calling
//     the package's functions and the escapers without reflection.
//
// Anything the interpreter does not know (variables, break, a function it
// does not implement, a type it cannot look into, any error) makes it give
// up: statically, then the template has no program and always runs on
// html/template and text/template; or for one recipient, then RenderTo
// runs the standard templates for that recipient. Output is the same either
// way; tests and Compile itself compare both.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
)

var errFallback = errors.New("templates: not for the fast executor")

type vkind uint8

const (
	kNil    vkind = iota // a missing value or nil
	kString              // s
	kInt                 // n, Go type int
	kFloat               // f, Go type float64
	kBool                // n != 0
	kAny                 // a, any other value
	kItem                // a is *Item; the template sees the Item
	kItems               // a is *Cart; the template sees its Items
	kLines               // a is *Shop; the template sees its Impressum
)

// value is a template value; strings and numbers are kept unboxed so
// evaluating a field allocates nothing.
type value struct {
	k vkind
	n int // kInt, kBool; kFloat: the float's bits
	s string
	a any
}

func strV(s string) value { return value{k: kString, s: s} }

func floatV(f float64) value { return value{k: kFloat, n: int(math.Float64bits(f))} }

func (v value) f() float64 { return math.Float64frombits(uint64(v.n)) }

func fromAny(x any) value {
	switch x := x.(type) {
	case nil:
		return value{}
	case string:
		return value{k: kString, s: x}
	case int:
		return value{k: kInt, n: x}
	case float64:
		return floatV(x)
	case bool:
		return boolV(x)
	}
	return value{k: kAny, a: x}
}

func boolV(b bool) value {
	if b {
		return value{k: kBool, n: 1}
	}
	return value{k: kBool}
}

// box returns the value as text/template would hold it.
func (v value) box() any {
	switch v.k {
	case kString:
		return v.s
	case kInt:
		return v.n
	case kFloat:
		return v.f()
	case kBool:
		return v.n != 0
	case kAny:
		return v.a
	case kItem:
		return *v.a.(*Item)
	case kItems:
		return v.a.(*Cart).Items
	case kLines:
		return v.a.(*Shop).Impressum
	}
	return nil
}

// truth is text/template's isTrue; ok is false for values it cannot judge.
func (v value) truth() (t, ok bool) {
	switch v.k {
	case kNil:
		return false, true
	case kString:
		return v.s != "", true
	case kInt, kBool:
		return v.n != 0, true
	case kFloat:
		return v.f() != 0, true
	case kItem:
		return true, true
	case kItems:
		return len(v.a.(*Cart).Items) > 0, true
	case kLines:
		return len(v.a.(*Shop).Impressum) > 0, true
	}
	rv := reflect.ValueOf(v.a)
	switch rv.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return rv.Len() > 0, true
	case reflect.Bool:
		return rv.Bool(), true
	case reflect.Complex64, reflect.Complex128:
		return rv.Complex() != 0, true
	case reflect.Chan, reflect.Func, reflect.Pointer, reflect.UnsafePointer, reflect.Interface:
		return !rv.IsNil(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() != 0, true
	case reflect.Float32, reflect.Float64:
		return rv.Float() != 0, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint() != 0, true
	case reflect.Struct:
		return true, true
	}
	return false, false
}

// state is one execution.
type state struct {
	out   *bytes.Buffer
	root  *view
	stack []value // arguments of the calls being evaluated
}

// ---- instructions ----

type instr interface {
	run(s *state, dot value) error
}

type program []instr

func (p program) run(s *state, dot value) error {
	for _, in := range p {
		if err := in.run(s, dot); err != nil {
			return err
		}
	}
	return nil
}

// static returns the text of a program without actions.
func (p program) static() (string, bool) {
	switch len(p) {
	case 0:
		return "", true
	case 1:
		t, ok := p[0].(textOp)
		return string(t), ok
	}
	return "", false
}

type textOp string

func (t textOp) run(s *state, _ value) error {
	s.out.WriteString(string(t))
	return nil
}

// actionOp prints a pipeline through its escapers (at least one).
type actionOp struct {
	pipe *pipeline
	esc  []escaper
}

func (a *actionOp) run(s *state, dot value) error {
	v, err := a.pipe.eval(s, dot)
	if err != nil {
		return err
	}
	if a.esc[0] == escNonil {
		str := stringifyText(v)
		for _, e := range a.esc[1:] {
			if str, err = e.escape(str, ctPlain); err != nil {
				return err
			}
		}
		s.out.WriteString(str)
		return nil
	}
	str, ct, err := stringifyHTML(v)
	if err != nil {
		return err
	}
	last := len(a.esc) - 1
	for _, e := range a.esc[:last] {
		if str, err = e.escape(str, ct); err != nil {
			return err
		}
		ct = ctPlain
	}
	return a.esc[last].escapeTo(s.out, str, ct)
}

type ifOp struct {
	with        bool
	cond        *pipeline
	list, else_ program
}

func (o *ifOp) run(s *state, dot value) error {
	v, err := o.cond.eval(s, dot)
	if err != nil {
		return err
	}
	t, ok := v.truth()
	if !ok {
		return errFallback
	}
	if t {
		if o.with {
			return o.list.run(s, v)
		}
		return o.list.run(s, dot)
	}
	return o.else_.run(s, dot)
}

type rangeOp struct {
	pipe        *pipeline
	list, else_ program
}

func (o *rangeOp) run(s *state, dot value) error {
	v, err := o.pipe.eval(s, dot)
	if err != nil {
		return err
	}
	n := 0
	switch v.k {
	case kNil:
	case kItems:
		items := v.a.(*Cart).Items
		for i := range items {
			if err := o.list.run(s, value{k: kItem, a: &items[i]}); err != nil {
				return err
			}
		}
		n = len(items)
	case kLines:
		lines := v.a.(*Shop).Impressum
		for _, l := range lines {
			if err := o.list.run(s, strV(l)); err != nil {
				return err
			}
		}
		n = len(lines)
	case kAny:
		switch x := v.a.(type) {
		case []any:
			for _, e := range x {
				if err := o.list.run(s, fromAny(e)); err != nil {
					return err
				}
			}
			n = len(x)
		case []string:
			for _, e := range x {
				if err := o.list.run(s, strV(e)); err != nil {
					return err
				}
			}
			n = len(x)
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if err := o.list.run(s, fromAny(x[k])); err != nil {
					return err
				}
			}
			n = len(x)
		default:
			return errFallback
		}
	default:
		return errFallback
	}
	if n == 0 {
		return o.else_.run(s, dot)
	}
	return nil
}

// ---- expressions ----

// operand is an argument or the first word of a command.
type operand interface {
	eval(s *state, dot value) (value, error)
}

type constOp value

func (c constOp) eval(*state, value) (value, error) { return value(c), nil }

type dotOp struct{}

func (dotOp) eval(_ *state, dot value) (value, error) { return dot, nil }

// chainOp is .A.B.C (from dot) or $.A.B.C (from the root).
type chainOp struct {
	root   bool
	base   *value // a dot known at compile time
	idents []string
	acc    []*accessors // per ident
	// first reads the first ident from the view when the chain starts at
	// the view (root, or dot known to be the view); then acc[0] is skipped.
	first func(*view) value
}

func newChain(root bool, base *value, idents []string, dotIsRoot bool) *chainOp {
	c := &chainOp{root: root, base: base, idents: idents}
	for _, id := range idents {
		c.acc = append(c.acc, accessorsFor(id))
	}
	if root || dotIsRoot && base == nil {
		switch a := c.acc[0]; {
		case a.view != nil:
			c.first = a.view
		case a.data != nil:
			c.first = func(v *view) value { return a.data(v.recipientData) }
		}
	}
	return c
}

// start evaluates the chain up to (not including) ident n.
func (c *chainOp) start(s *state, dot value, n int) (value, error) {
	v := dot
	i := 0
	switch {
	case c.first != nil:
		if n == 0 {
			return value{k: kAny, a: s.root}, nil
		}
		v, i = c.first(s.root), 1
	case c.root:
		v = value{k: kAny, a: s.root}
	case c.base != nil:
		v = *c.base
	}
	for ; i < n; i++ {
		var err error
		if v, err = c.acc[i].get(v, c.idents[i]); err != nil {
			return value{}, err
		}
	}
	return v, nil
}

func (c *chainOp) eval(s *state, dot value) (value, error) {
	return c.start(s, dot, len(c.idents))
}

// call evaluates the chain; the last link gets args and, with hasFinal, the
// piped value, as text/template's evalFieldChain does.
func (c *chainOp) call(s *state, dot value, args []operand, final value, hasFinal bool) (value, error) {
	if len(args) == 0 && !hasFinal {
		return c.start(s, dot, len(c.idents))
	}
	last := len(c.idents) - 1
	v, err := c.start(s, dot, last)
	if err != nil {
		return value{}, err
	}
	base := len(s.stack)
	for _, a := range args {
		x, err := a.eval(s, dot)
		if err != nil {
			return value{}, err
		}
		s.stack = append(s.stack, x)
	}
	if hasFinal {
		s.stack = append(s.stack, final)
	}
	v, err = method(v, c.idents[last], s.stack[base:])
	s.stack = s.stack[:base]
	return v, err
}

// accessors read one field (or zero-argument method) by receiver type.
// They are looked up by name once, when a template is compiled.
type accessors struct {
	view func(*view) value // else data, on the view's embedded Data
	data func(*Data) value
	cart func(*Cart) value
	item func(*Item) value
	shop func(*Shop) value
	strs func(*Strings) value
}

// fields are the fields and zero-argument methods of the types a mail's
// data holds, as text/template resolves them (the view's own Cart shadows
// Data.Cart).
var fields = map[string]*accessors{
	"Email":            {data: func(d *Data) value { return strV(d.Email) }},
	"Name":             {data: func(d *Data) value { return strV(d.Name) }, item: func(i *Item) value { return strV(i.Name) }, shop: func(s *Shop) value { return strV(s.Name) }},
	"Locale":           {data: func(d *Data) value { return strV(d.Locale) }},
	"UnsubscribeURL":   {data: func(d *Data) value { return strV(d.UnsubscribeURL) }},
	"PreferencesURL":   {data: func(d *Data) value { return strV(d.PreferencesURL) }},
	"Coupon":           {data: func(d *Data) value { return strV(d.Coupon) }},
	"ConfirmURL":       {data: func(d *Data) value { return strV(d.ConfirmURL) }},
	"Attributes":       {data: func(d *Data) value { return value{k: kAny, a: d.Attributes} }},
	"FirstName":        {data: func(d *Data) value { return strV(d.FirstName()) }},
	"ExistingCustomer": {data: func(d *Data) value { return boolV(d.ExistingCustomer) }},
	"Points":           {data: func(d *Data) value { return value{k: kInt, n: int(d.Points)} }},
	"ReferralURL":      {data: func(d *Data) value { return strV(d.ReferralURL) }},
	"RewardCode":       {data: func(d *Data) value { return strV(d.RewardCode) }},
	"SurveyURL":        {data: func(d *Data) value { return strV(d.SurveyURL) }},
	"Cart": {
		view: func(v *view) value { return value{k: kAny, a: v.Cart} },
		data: func(d *Data) value { return value{k: kAny, a: d.Cart} },
	},
	"Subject":     {view: func(v *view) value { return strV(v.Subject) }},
	"Preheader":   {view: func(v *view) value { return strV(v.Preheader) }},
	"Shop":        {view: func(v *view) value { return value{k: kAny, a: v.Shop} }},
	"L":           {view: func(v *view) value { return value{k: kAny, a: v.L} }},
	"Data":        {data: func(d *Data) value { return value{k: kAny, a: d.Data} }},
	"ID":          {cart: func(c *Cart) value { return strV(c.ID) }},
	"URL":         {cart: func(c *Cart) value { return strV(c.URL) }, item: func(i *Item) value { return strV(i.URL) }},
	"Currency":    {cart: func(c *Cart) value { return strV(c.Currency) }},
	"Total":       {cart: func(c *Cart) value { return floatV(c.Total) }},
	"Items":       {cart: func(c *Cart) value { return value{k: kItems, a: c} }},
	"SKU":         {item: func(i *Item) value { return strV(i.SKU) }},
	"ImageURL":    {item: func(i *Item) value { return strV(i.ImageURL) }},
	"Price":       {item: func(i *Item) value { return floatV(i.Price) }},
	"Quantity":    {item: func(i *Item) value { return value{k: kInt, n: i.Quantity} }},
	"LogoURL":     {shop: func(s *Shop) value { return strV(s.LogoURL) }},
	"Impressum":   {shop: func(s *Shop) value { return value{k: kLines, a: s} }},
	"Lang":        {strs: func(s *Strings) value { return strV(s.Lang) }},
	"Reason":      {strs: func(s *Strings) value { return strV(s.Reason) }},
	"Customer":    {strs: func(s *Strings) value { return strV(s.Customer) }},
	"Preferences": {strs: func(s *Strings) value { return strV(s.Preferences) }},
	"Unsubscribe": {strs: func(s *Strings) value { return strV(s.Unsubscribe) }},
}

var noAccessors = &accessors{}

func accessorsFor(name string) *accessors {
	if a := fields[name]; a != nil {
		return a
	}
	return noAccessors
}

// get is text/template's evalField without arguments.
func (a *accessors) get(v value, name string) (value, error) {
	switch v.k {
	case kItem:
		if a.item != nil {
			return a.item(v.a.(*Item)), nil
		}
		return value{}, errFallback
	case kAny:
	default:
		return value{}, errFallback
	}
	switch x := v.a.(type) {
	case *view:
		if a.view != nil {
			return a.view(x), nil
		}
		if a.data != nil {
			return a.data(x.recipientData), nil
		}
	case *Data:
		if a.data != nil && x != nil {
			return a.data(x), nil
		}
	case *Cart:
		if a.cart != nil && x != nil {
			return a.cart(x), nil
		}
	case *Shop:
		if a.shop != nil && x != nil {
			return a.shop(x), nil
		}
	case *Strings:
		if a.strs != nil && x != nil {
			return a.strs(x), nil
		}
	case map[string]any:
		e, ok := x[name]
		if !ok {
			return value{}, nil
		}
		return fromAny(e), nil
	}
	return value{}, errFallback
}

// method is text/template's evalField for a method called with arguments
// (including a piped value).
func method(v value, name string, args []value) (value, error) {
	if v.k != kAny {
		return value{}, errFallback
	}
	var d *Data
	switch x := v.a.(type) {
	case *view:
		if name == "Money" {
			if len(args) != 1 {
				return value{}, errFallback
			}
			return x.money(args[0])
		}
		d = x.recipientData
	case *Data:
		d = x
	}
	if d != nil && name == "Attr" && len(args) == 1 && args[0].k == kString {
		return fromAny(d.Attr(args[0].s)), nil
	}
	return value{}, errFallback
}

// money is view.Money without boxing.
func (v *view) money(amount value) (value, error) {
	var f float64
	switch amount.k {
	case kFloat:
		f = amount.f()
	case kInt:
		f = float64(amount.n)
	default:
		var ok bool
		if f, ok = toFloat(amount.box()); !ok {
			return strV(""), nil
		}
	}
	currency := ""
	if v.Cart != nil {
		currency = v.Cart.Currency
	}
	return strV(formatMoney(v.L.Lang, currency, f)), nil
}

// pipeline is a pipeline without declarations.
type pipeline struct {
	cmds  []command
	chain *chainOp // the pipeline is this field chain alone
}

type command interface {
	exec(s *state, dot, final value, hasFinal bool) (value, error)
}

func (p *pipeline) eval(s *state, dot value) (value, error) {
	if p.chain != nil {
		return p.chain.start(s, dot, len(p.chain.idents))
	}
	var v value
	for i, c := range p.cmds {
		var err error
		if v, err = c.exec(s, dot, v, i > 0); err != nil {
			return value{}, err
		}
	}
	return v, nil
}

// eval lets a parenthesised pipeline be an operand.
type pipeOperand struct{ p *pipeline }

func (p pipeOperand) eval(s *state, dot value) (value, error) { return p.p.eval(s, dot) }

// operandCmd is a command whose first word is not callable.
type operandCmd struct{ op operand }

func (c operandCmd) exec(s *state, dot, _ value, hasFinal bool) (value, error) {
	if hasFinal {
		return value{}, errFallback
	}
	return c.op.eval(s, dot)
}

// chainCmd is a field chain, possibly a method call with arguments.
type chainCmd struct {
	chain *chainOp
	args  []operand
}

func (c *chainCmd) exec(s *state, dot, final value, hasFinal bool) (value, error) {
	return c.chain.call(s, dot, c.args, final, hasFinal)
}

// funcCmd calls one of the functions below.
type funcCmd struct {
	fn   nativeFunc
	args []operand
}

type nativeFunc func(args []value) (value, error)

func (c *funcCmd) exec(s *state, dot, final value, hasFinal bool) (value, error) {
	base := len(s.stack)
	for _, a := range c.args {
		x, err := a.eval(s, dot)
		if err != nil {
			return value{}, err
		}
		s.stack = append(s.stack, x)
	}
	if hasFinal {
		s.stack = append(s.stack, final)
	}
	v, err := c.fn(s.stack[base:])
	s.stack = s.stack[:base]
	return v, err
}

// andOrCmd is and/or: they evaluate their arguments lazily.
type andOrCmd struct {
	or   bool
	args []operand
}

func (c *andOrCmd) exec(s *state, dot, final value, hasFinal bool) (value, error) {
	if len(c.args) == 0 {
		return value{}, errFallback
	}
	var v value
	for _, a := range c.args {
		var err error
		if v, err = a.eval(s, dot); err != nil {
			return value{}, err
		}
		if t, _ := v.truth(); t == c.or {
			return v, nil
		}
	}
	if hasFinal {
		v = final
	}
	return v, nil
}

// natives are the functions of funcs() and text/template's builtins as far
// as the fast executor implements them; outlookBegin and outlookEnd are
// evaluated at compile time. Each must behave exactly like the original.
var natives = map[string]nativeFunc{
	"default": func(a []value) (value, error) {
		if len(a) != 2 {
			return value{}, errFallback
		}
		v := a[1]
		if v.k == kNil || v.k == kString && strings.TrimSpace(v.s) == "" {
			return a[0], nil
		}
		return v, nil
	},
	"upper": func(a []value) (value, error) {
		if len(a) != 1 {
			return value{}, errFallback
		}
		return strV(strings.ToUpper(stringifyText(a[0]))), nil
	},
	"lower": func(a []value) (value, error) {
		if len(a) != 1 {
			return value{}, errFallback
		}
		return strV(strings.ToLower(stringifyText(a[0]))), nil
	},
	nonilFunc: func(a []value) (value, error) {
		if len(a) != 1 {
			return value{}, errFallback
		}
		return strV(stringifyText(a[0])), nil
	},
	"content": func(a []value) (value, error) {
		if len(a) != 0 {
			return value{}, errFallback
		}
		return strV(""), nil
	},
	"outlookBegin": func(a []value) (value, error) {
		if len(a) != 1 || a[0].k != kInt {
			return value{}, errFallback
		}
		return value{k: kAny, a: outlookBegin(a[0].n)}, nil
	},
	"outlookEnd": func(a []value) (value, error) {
		if len(a) != 0 {
			return value{}, errFallback
		}
		return value{k: kAny, a: outlookEnd()}, nil
	},
	"not": func(a []value) (value, error) {
		if len(a) != 1 {
			return value{}, errFallback
		}
		t, _ := a[0].truth()
		return boolV(!t), nil
	},
	"eq": func(a []value) (value, error) {
		if len(a) < 2 {
			return value{}, errFallback
		}
		for _, b := range a[1:] {
			c, err := compare(a[0], b)
			if err != nil {
				return value{}, err
			}
			if c == 0 {
				return boolV(true), nil
			}
		}
		return boolV(false), nil
	},
	"ne": cmpFunc(func(c int) bool { return c != 0 }),
	"lt": orderFunc(func(c int) bool { return c < 0 }),
	"le": orderFunc(func(c int) bool { return c <= 0 }),
	"gt": orderFunc(func(c int) bool { return c > 0 }),
	"ge": orderFunc(func(c int) bool { return c >= 0 }),
	"len": func(a []value) (value, error) {
		if len(a) != 1 {
			return value{}, errFallback
		}
		switch v := a[0]; v.k {
		case kString:
			return value{k: kInt, n: len(v.s)}, nil
		case kItems, kLines:
			return value{k: kInt, n: reflect.ValueOf(v.box()).Len()}, nil
		case kAny:
			switch rv := reflect.ValueOf(v.a); rv.Kind() {
			case reflect.Map, reflect.Slice, reflect.Array, reflect.String:
				return value{k: kInt, n: rv.Len()}, nil
			}
		}
		return value{}, errFallback
	},
	"index": func(a []value) (value, error) {
		if len(a) != 2 {
			return value{}, errFallback
		}
		switch x := a[0].box().(type) {
		case map[string]any:
			if a[1].k != kString {
				return value{}, errFallback
			}
			return fromAny(x[a[1].s]), nil
		case []any:
			if a[1].k != kInt || a[1].n < 0 || a[1].n >= len(x) {
				return value{}, errFallback
			}
			return fromAny(x[a[1].n]), nil
		}
		return value{}, errFallback
	},
	// The builtin escapers of text/template, for one string or integer.
	"urlquery": builtinEscaper(url.QueryEscape),
	"html":     builtinEscaper(texttemplate.HTMLEscapeString),
	"js":       builtinEscaper(texttemplate.JSEscapeString),
	"print": func(a []value) (value, error) {
		return strV(fmt.Sprint(boxAll(a)...)), nil
	},
	"println": func(a []value) (value, error) {
		return strV(fmt.Sprintln(boxAll(a)...)), nil
	},
	"printf": func(a []value) (value, error) {
		if len(a) < 1 || a[0].k != kString {
			return value{}, errFallback
		}
		return strV(fmt.Sprintf(a[0].s, boxAll(a[1:])...)), nil
	},
}

func builtinEscaper(esc func(string) string) nativeFunc {
	return func(a []value) (value, error) {
		if len(a) != 1 {
			return value{}, errFallback
		}
		switch a[0].k {
		case kString:
			return strV(esc(a[0].s)), nil
		case kInt:
			return strV(esc(strconv.Itoa(a[0].n))), nil
		}
		return value{}, errFallback
	}
}

func boxAll(a []value) []any {
	b := make([]any, len(a))
	for i, v := range a {
		b[i] = v.box()
	}
	return b
}

// compare compares two values of the same basic kind; anything else is
// left to text/template, which may report an error.
func compare(a, b value) (int, error) {
	if a.k != b.k {
		return 0, errFallback
	}
	switch a.k {
	case kString:
		return strings.Compare(a.s, b.s), nil
	case kInt, kBool:
		return cmpInt(a.n, b.n), nil
	case kFloat:
		af, bf := a.f(), b.f()
		if af != af || bf != bf {
			return 0, errFallback // NaN
		}
		switch {
		case af < bf:
			return -1, nil
		case af > bf:
			return 1, nil
		}
		return 0, nil
	}
	return 0, errFallback
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFunc(ok func(int) bool) nativeFunc {
	return func(a []value) (value, error) {
		if len(a) != 2 {
			return value{}, errFallback
		}
		c, err := compare(a[0], a[1])
		if err != nil {
			return value{}, err
		}
		return boolV(ok(c)), nil
	}
}

func orderFunc(ok func(int) bool) nativeFunc {
	f := cmpFunc(ok)
	return func(a []value) (value, error) {
		if len(a) == 2 && a[0].k == kBool {
			return value{}, errFallback // bools are not ordered
		}
		return f(a)
	}
}

// ---- compiling ----

// dotInfo is what the compiler knows about dot.
type dotInfo struct {
	root  bool  // dot is the view
	known bool  // dot is the constant val
	val   value // when known
}

// compiler builds the program of one parse tree for one footer language.
type compiler struct {
	cv *view // the view with no recipient: Shop and L are set
}

var errUnsupported = errors.New("templates: construct not supported by the fast executor")

// compile returns the program for tree, or errUnsupported.
func (c *compiler) compile(tree *parse.Tree) (program, error) {
	if tree == nil || tree.Root == nil {
		return nil, nil
	}
	return c.list(tree.Root, dotInfo{root: true})
}

func (c *compiler) list(l *parse.ListNode, dot dotInfo) (program, error) {
	var p program
	if l == nil {
		return p, nil
	}
	for _, n := range l.Nodes {
		q, err := c.node(n, dot)
		if err != nil {
			return nil, err
		}
		p = append(p, q...)
	}
	// Merge adjacent text.
	var out program
	for _, in := range p {
		if t, ok := in.(textOp); ok && len(out) > 0 {
			if u, ok := out[len(out)-1].(textOp); ok {
				out[len(out)-1] = u + t
				continue
			}
		}
		if t, ok := in.(textOp); ok && t == "" {
			continue
		}
		out = append(out, in)
	}
	return out, nil
}

func (c *compiler) node(n parse.Node, dot dotInfo) (program, error) {
	switch n := n.(type) {
	case *parse.TextNode:
		return program{textOp(n.Text)}, nil
	case *parse.ActionNode:
		if len(n.Pipe.Decl) > 0 {
			return nil, errUnsupported
		}
		cmds := n.Pipe.Cmds
		k := len(cmds)
		for k > 0 && finalEscaper(cmds[k-1]) != escNone {
			k--
		}
		if k == len(cmds) || k == 0 {
			return nil, errUnsupported // every action prints through escapers
		}
		op := &actionOp{}
		for _, cmd := range cmds[k:] {
			op.esc = append(op.esc, finalEscaper(cmd))
		}
		pipe, known, err := c.pipeline(&parse.PipeNode{Cmds: cmds[:k]}, dot)
		if err != nil {
			return nil, err
		}
		op.pipe = pipe
		if known {
			t, ok := c.fold(op, dot)
			if !ok {
				// It would fail for every recipient.
				return nil, errUnsupported
			}
			return program{t}, nil
		}
		return program{op}, nil
	case *parse.IfNode:
		return c.branch(&n.BranchNode, dot, false)
	case *parse.WithNode:
		return c.branch(&n.BranchNode, dot, true)
	case *parse.RangeNode:
		if len(n.Pipe.Decl) > 0 {
			return nil, errUnsupported
		}
		pipe, known, err := c.pipeline(n.Pipe, dot)
		if err != nil {
			return nil, err
		}
		elsep, err := c.list(n.ElseList, dot)
		if err != nil {
			return nil, err
		}
		if known {
			// Unroll a range over the Impressum lines.
			if v, err := pipe.eval(c.state(nil), c.dotVal(dot)); err == nil && (v.k == kLines || v.k == kNil) {
				var lines []string
				if v.k == kLines {
					lines = v.a.(*Shop).Impressum
				}
				if len(lines) == 0 {
					return elsep, nil
				}
				var p program
				for _, l := range lines {
					q, err := c.list(n.List, dotInfo{known: true, val: strV(l)})
					if err != nil {
						return nil, err
					}
					p = append(p, q...)
				}
				return p, nil
			}
		}
		list, err := c.list(n.List, dotInfo{})
		if err != nil {
			return nil, err
		}
		return program{&rangeOp{pipe: pipe, list: list, else_: elsep}}, nil
	}
	// Templates, break, continue, comments ...
	return nil, errUnsupported
}

func (c *compiler) branch(n *parse.BranchNode, dot dotInfo, with bool) (program, error) {
	if len(n.Pipe.Decl) > 0 {
		return nil, errUnsupported
	}
	pipe, known, err := c.pipeline(n.Pipe, dot)
	if err != nil {
		return nil, err
	}
	if known {
		if v, err := pipe.eval(c.state(nil), c.dotVal(dot)); err == nil {
			if t, ok := v.truth(); ok {
				if !t {
					return c.list(n.ElseList, dot)
				}
				if with {
					return c.list(n.List, dotInfo{known: true, val: v})
				}
				return c.list(n.List, dot)
			}
		}
	}
	inner := dot
	if with {
		inner = dotInfo{}
	}
	list, err := c.list(n.List, inner)
	if err != nil {
		return nil, err
	}
	elsep, err := c.list(n.ElseList, dot)
	if err != nil {
		return nil, err
	}
	return program{&ifOp{with: with, cond: pipe, list: list, else_: elsep}}, nil
}

func (c *compiler) state(out *bytes.Buffer) *state {
	return &state{out: out, root: c.cv}
}

func (c *compiler) dotVal(dot dotInfo) value {
	if dot.known {
		return dot.val
	}
	return value{k: kAny, a: c.cv}
}

// fold runs an action whose value is known now and returns its output.
func (c *compiler) fold(op *actionOp, dot dotInfo) (textOp, bool) {
	var b bytes.Buffer
	if err := op.run(c.state(&b), c.dotVal(dot)); err != nil {
		return "", false
	}
	return textOp(b.String()), true
}

// finalEscaper reports the escaper a command is, if it is one applied to
// the piped value only.
func finalEscaper(cmd *parse.CommandNode) escaper {
	if len(cmd.Args) != 1 {
		return escNone
	}
	id, ok := cmd.Args[0].(*parse.IdentifierNode)
	if !ok {
		return escNone
	}
	if id.Ident == nonilFunc {
		return escNonil
	}
	return escapers[id.Ident]
}

// pipeline compiles a pipeline without declarations; known reports that its
// value depends only on the footer language and the shop.
func (c *compiler) pipeline(p *parse.PipeNode, dot dotInfo) (*pipeline, bool, error) {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) == 0 {
		return nil, false, errUnsupported
	}
	out := &pipeline{}
	known := true
	for _, cmd := range p.Cmds {
		cc, k, err := c.command(cmd, dot)
		if err != nil {
			return nil, false, err
		}
		known = known && k
		out.cmds = append(out.cmds, cc)
	}
	if c, ok := out.cmds[0].(*chainCmd); ok && len(out.cmds) == 1 && len(c.args) == 0 {
		out.chain = c.chain
	}
	return out, known, nil
}

func (c *compiler) command(cmd *parse.CommandNode, dot dotInfo) (command, bool, error) {
	args, known, err := c.operands(cmd.Args[1:], dot)
	if err != nil {
		return nil, false, err
	}
	switch n := cmd.Args[0].(type) {
	case *parse.IdentifierNode:
		switch n.Ident {
		case "and", "or":
			return &andOrCmd{or: n.Ident == "or", args: args}, known, nil
		}
		fn, ok := natives[n.Ident]
		if !ok {
			return nil, false, errUnsupported
		}
		return &funcCmd{fn: fn, args: args}, known, nil
	case *parse.FieldNode, *parse.VariableNode:
		op, k, err := c.operand(n, dot)
		if err != nil {
			return nil, false, err
		}
		if ch, ok := op.(*chainOp); ok {
			// Methods: only Money is not known at compile time.
			return &chainCmd{chain: ch, args: args}, k && known && !slices.Contains(ch.idents, "Money"), nil
		}
		if len(args) > 0 {
			return nil, false, errUnsupported
		}
		return operandCmd{op}, k, nil
	}
	if len(args) > 0 {
		return nil, false, errUnsupported
	}
	if _, ok := cmd.Args[0].(*parse.NilNode); ok {
		return nil, false, errUnsupported // "nil is not a command"
	}
	op, k, err := c.operand(cmd.Args[0], dot)
	if err != nil {
		return nil, false, err
	}
	return operandCmd{op}, k, nil
}

func (c *compiler) operands(ns []parse.Node, dot dotInfo) ([]operand, bool, error) {
	var ops []operand
	known := true
	for _, n := range ns {
		op, k, err := c.operand(n, dot)
		if err != nil {
			return nil, false, err
		}
		known = known && k
		ops = append(ops, op)
	}
	return ops, known, nil
}

// constRoots are the fields of the view that are the same for every
// recipient of one footer language.
func constRoot(ident string) bool { return ident == "L" || ident == "Shop" }

func (c *compiler) operand(n parse.Node, dot dotInfo) (operand, bool, error) {
	switch n := n.(type) {
	case *parse.DotNode:
		if dot.known {
			return constOp(dot.val), true, nil
		}
		return dotOp{}, false, nil
	case *parse.FieldNode:
		if dot.known {
			base := dot.val
			return newChain(false, &base, n.Ident, false), true, nil
		}
		return newChain(false, nil, n.Ident, dot.root), dot.root && constRoot(n.Ident[0]), nil
	case *parse.VariableNode:
		if n.Ident[0] != "$" {
			return nil, false, errUnsupported
		}
		if len(n.Ident) == 1 {
			return &rootOp{}, false, nil
		}
		return newChain(true, nil, n.Ident[1:], false), constRoot(n.Ident[1]), nil
	case *parse.StringNode:
		return constOp(strV(n.Text)), true, nil
	case *parse.BoolNode:
		return constOp(boolV(n.True)), true, nil
	case *parse.NilNode:
		// As an argument nil is the zero value of the parameter; the
		// functions here that accept it take any.
		return constOp(value{}), true, nil
	case *parse.NumberNode:
		switch {
		case n.IsComplex:
			return nil, false, errUnsupported
		case n.IsFloat && !isHexInt(n.Text) && !isRuneInt(n.Text) && strings.ContainsAny(n.Text, ".eEpP"):
			return constOp(floatV(n.Float64)), true, nil
		case n.IsInt:
			if int64(int(n.Int64)) != n.Int64 {
				return nil, false, errUnsupported
			}
			return constOp(value{k: kInt, n: int(n.Int64)}), true, nil
		}
		return nil, false, errUnsupported
	case *parse.PipeNode:
		p, known, err := c.pipeline(n, dot)
		if err != nil {
			return nil, false, err
		}
		return pipeOperand{p}, known, nil
	}
	return nil, false, errUnsupported
}

type rootOp struct{}

func (*rootOp) eval(s *state, _ value) (value, error) { return value{k: kAny, a: s.root}, nil }

// As text/template's idealConstant decides between int and float.
func isRuneInt(s string) bool { return len(s) > 0 && s[0] == '\'' }

func isHexInt(s string) bool {
	return len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && !strings.ContainsAny(s, "pP")
}

// ---- the compiled mail ----

// fastParts are the programs of one footer language.
type fastParts struct {
	subject, preheader, html, text program
	// The subject and preheader when they have no actions left.
	subjectConst, preheaderConst       string
	hasSubjectConst, hasPreheaderConst bool
}

// compileFast builds the programs for both footer languages, or returns nil
// when a template uses something the fast executor does not implement.
func (t *Template) compileFast() *[2]fastParts {
	var out [2]fastParts
	for i, l := range []string{"de", "en"} {
		c := &compiler{cv: &view{recipientData: &Data{}, Cart: &emptyCart, Shop: t.shop, L: t.strings[l]}}
		f := &out[i]
		var err error
		if f.subject, err = c.compile(t.subject.Tree); err != nil {
			return nil
		}
		if f.preheader, err = c.compile(t.preheader.Tree); err != nil {
			return nil
		}
		if t.html != nil {
			if f.html, err = c.compile(t.html.Tree); err != nil {
				return nil
			}
		}
		if t.text != nil {
			if f.text, err = c.compile(t.text.Tree); err != nil {
				return nil
			}
		}
		if s, ok := f.subject.static(); ok {
			var b bytes.Buffer
			b.WriteString(s)
			oneLine(&b)
			f.subjectConst, f.hasSubjectConst = b.String(), true
		}
		if s, ok := f.preheader.static(); ok {
			f.preheaderConst, f.hasPreheaderConst = strings.TrimSpace(s), true
		}
	}
	return &out
}

// emptyCart is the cart of recipients without one; templates cannot
// modify it.
var emptyCart Cart

var noData Data

func langIndex(l string) int {
	if l == "en" {
		return 1
	}
	return 0
}

// renderFast is RenderTo on the fast programs. Any error means "use the
// standard templates for this recipient"; b may then hold partial output.
func (t *Template) renderFast(b *Buffers, d *Data) error {
	if d == nil {
		d = &noData
	}
	v := &b.view
	*v = view{recipientData: d, Cart: d.Cart, Shop: t.shop}
	if v.Cart == nil {
		v.Cart = &emptyCart
	}
	l := lang(d.Locale)
	if l == "" {
		l = t.lang
	}
	v.L = t.strings[l]
	f := &t.fast[langIndex(l)]
	s := &b.state
	*s = state{root: v, stack: s.stack[:0]}
	dot := value{k: kAny, a: v}

	b.Subject.Reset()
	b.HTML.Reset()
	b.Text.Reset()
	if f.hasSubjectConst {
		b.Subject.WriteString(f.subjectConst)
		v.Subject = f.subjectConst
	} else {
		s.out = &b.Subject
		if err := f.subject.run(s, dot); err != nil {
			return err
		}
		oneLine(&b.Subject)
		v.Subject = b.Subject.String()
	}
	if f.hasPreheaderConst {
		v.Preheader = f.preheaderConst
	} else {
		b.scratch.Reset()
		s.out = &b.scratch
		if err := f.preheader.run(s, dot); err != nil {
			return err
		}
		v.Preheader = strings.TrimSpace(b.scratch.String())
	}
	if t.html != nil {
		s.out = &b.HTML
		if err := f.html.run(s, dot); err != nil {
			return err
		}
	}
	if t.text != nil {
		s.out = &b.Text
		if err := f.text.run(s, dot); err != nil {
			return err
		}
		finishText(&b.Text, &b.scratch)
	}
	return nil
}
