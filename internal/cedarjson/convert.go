// Package cedarjson turns JSON values (tool arguments, identity claims) into
// Cedar values, following the mapping of the policy model (docs/design.md):
// objects → records, arrays → sets, integers → Long, other numbers → decimal,
// null dropped. Input is untrusted, so every limit is checked while reading and
// every failure is an *Error with a stable code and the path of the value.
//
// Numbers are converted exactly or not at all: Cedar's Long is a signed 64-bit
// integer and its decimal has four fractional digits in the range
// -922337203685477.5808 … 922337203685477.5807. A number that does not fit
// (too large, or more than four significant fractional digits) is an error,
// never a rounded value, because a rounded amount can slip past a policy that
// compares it.
package cedarjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/go-json-experiment/json/jsontext"
)

// Limits bound the work done on one value.
type Limits struct {
	// MaxBytes is the largest JSON text accepted.
	MaxBytes int
	// MaxDepth is the deepest nesting of objects and arrays (the top-level
	// object is depth 1).
	MaxDepth int
	// MaxValues is the most values (of any kind, containers included).
	MaxValues int
}

// DefaultLimits are generous for tool arguments and small enough that one
// call cannot make the decision slow.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 1 << 20, MaxDepth: 32, MaxValues: 10000}
}

// Stable error codes.
const (
	CodeInvalidJSON      = "input.invalid_json"
	CodeTooLarge         = "input.too_large"
	CodeTooDeep          = "input.too_deep"
	CodeTooManyValues    = "input.too_many_values"
	CodeNumberRange      = "input.number_range"
	CodeDecimalPrecision = "input.decimal_precision"
	CodeSchemaMismatch   = "input.schema_mismatch"
	CodeNotObject        = "input.not_object"
	CodeUnsupported      = "input.unsupported_type"
)

// Error is a conversion failure.
type Error struct {
	Code string
	// Path locates the value, e.g. `input.items[2].amount`.
	Path    string
	Message string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// numKind says how a JSON number must convert.
type numKind int

const (
	numAuto    numKind = iota // integral → Long, else decimal
	numInteger                // must be integral → Long
	numDecimal                // always decimal
)

type converter struct {
	lim    Limits
	values int
}

func (c *converter) count(path *pathBuf) error {
	c.values++
	if c.values > c.lim.MaxValues {
		return &Error{Code: CodeTooManyValues, Path: path.String(), Message: fmt.Sprintf("more than %d values", c.lim.MaxValues)}
	}
	return nil
}

// FromJSON converts one JSON value. root names the value in error paths
// ("input"). shape, from the tool's input schema, may be nil. When object is
// true the value must be a JSON object (tool arguments are).
func FromJSON(raw []byte, root string, shape *Shape, lim Limits, object bool) (types.Value, error) {
	if len(raw) > lim.MaxBytes {
		return nil, &Error{Code: CodeTooLarge, Path: root, Message: fmt.Sprintf("%d bytes is more than the limit of %d", len(raw), lim.MaxBytes)}
	}
	st := decoders.Get().(*decoderState)
	defer func() {
		st.dec.Reset(emptyReader)
		decoders.Put(st)
	}()
	st.rd.Reset(raw)
	st.dec.Reset(&st.rd)
	dec := st.dec
	if object && dec.PeekKind() != '{' {
		if _, err := dec.ReadToken(); err != nil {
			return nil, jsonError(root, err)
		}
		return nil, &Error{Code: CodeNotObject, Path: root, Message: "must be a JSON object"}
	}
	c := converter{lim: lim}
	path := &pathBuf{b: []byte(root)}
	v, err := c.value(dec, shape, path, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			return nil, &Error{Code: CodeInvalidJSON, Path: root, Message: "unexpected data after the value"}
		}
		return nil, jsonError(root, err)
	}
	return v, nil
}

func jsonError(root string, err error) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return &Error{Code: CodeInvalidJSON, Path: root, Message: fmt.Sprintf("invalid JSON at byte %d: %v", se.ByteOffset, se.Err)}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Code: CodeInvalidJSON, Path: root, Message: "invalid JSON: unexpected end of input"}
	}
	return &Error{Code: CodeInvalidJSON, Path: root, Message: "invalid JSON: " + err.Error()}
}

// decoderState is a reusable decoder: building one per value is a good part
// of the allocations of a decision.
type decoderState struct {
	rd  bytes.Reader
	dec *jsontext.Decoder
}

var (
	emptyReader = bytes.NewReader(nil)
	decoders    = sync.Pool{New: func() any { return &decoderState{dec: jsontext.NewDecoder(emptyReader)} }}
)

// nullValue marks a dropped null while building containers.
var errNull = errors.New("null")

func (c *converter) value(dec *jsontext.Decoder, shape *Shape, path *pathBuf, depth int) (types.Value, error) {
	if err := c.count(path); err != nil {
		return nil, err
	}
	kind := dec.PeekKind()
	if (kind == '{' || kind == '[') && depth+1 > c.lim.MaxDepth {
		return nil, &Error{Code: CodeTooDeep, Path: path.String(), Message: fmt.Sprintf("nested deeper than %d levels", c.lim.MaxDepth)}
	}
	switch kind {
	case '{':
		if _, err := dec.ReadToken(); err != nil {
			return nil, jsonError(path.root(), err)
		}
		m := types.RecordMap{}
		for dec.PeekKind() != '}' {
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, jsonError(path.root(), err)
			}
			name := tok.String()
			mark := path.field(name)
			v, err := c.value(dec, shape.prop(name), path, depth+1)
			path.reset(mark)
			if err == errNull {
				continue
			}
			if err != nil {
				return nil, err
			}
			m[types.String(name)] = v
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, jsonError(path.root(), err)
		}
		return types.NewRecord(m), nil
	case '[':
		if _, err := dec.ReadToken(); err != nil {
			return nil, jsonError(path.root(), err)
		}
		var vs []types.Value
		for i := 0; dec.PeekKind() != ']'; i++ {
			mark := path.index(i)
			v, err := c.value(dec, shape.item(), path, depth+1)
			path.reset(mark)
			if err == errNull {
				continue
			}
			if err != nil {
				return nil, err
			}
			vs = append(vs, v)
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, jsonError(path.root(), err)
		}
		return types.NewSet(vs...), nil
	case '0':
		raw, err := dec.ReadValue()
		if err != nil {
			return nil, jsonError(path.root(), err)
		}
		return number(string(raw), shape.num(), path)
	case '"', 't', 'f', 'n':
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, jsonError(path.root(), err)
		}
		switch tok.Kind() {
		case '"':
			return types.String(tok.String()), nil
		case 't':
			return types.True, nil
		case 'f':
			return types.False, nil
		default:
			return nil, errNull
		}
	default:
		_, err := dec.ReadToken()
		if err == nil {
			err = errors.New("unexpected token")
		}
		return nil, jsonError(path.root(), err)
	}
}

// number converts the text of a JSON number (already valid JSON grammar)
// exactly, or fails.
func number(text string, kind numKind, path *pathBuf) (types.Value, error) {
	neg, digits, exp, ok := splitNumber(text)
	if !ok {
		return nil, &Error{Code: CodeInvalidJSON, Path: path.String(), Message: fmt.Sprintf("invalid number %q", text)}
	}
	// value = digits × 10^exp, digits without leading or trailing zeros.
	integral := digits == "" || exp >= 0
	if kind == numInteger && !integral {
		return nil, &Error{Code: CodeSchemaMismatch, Path: path.String(), Message: fmt.Sprintf("%s is not an integer, but the tool's schema says integer", text)}
	}
	if integral && kind != numDecimal {
		n, ok := scaled(neg, digits, exp)
		if !ok {
			return nil, &Error{Code: CodeNumberRange, Path: path.String(), Message: fmt.Sprintf("%s does not fit a 64-bit integer (Cedar Long)", text)}
		}
		return types.Long(n), nil
	}
	if exp < -4 {
		return nil, &Error{Code: CodeDecimalPrecision, Path: path.String(), Message: fmt.Sprintf("%s has more than 4 fractional digits, which a Cedar decimal cannot hold exactly", text)}
	}
	n, ok := scaled(neg, digits, exp+4)
	if !ok {
		return nil, &Error{Code: CodeNumberRange, Path: path.String(), Message: fmt.Sprintf("%s is outside the Cedar decimal range", text)}
	}
	d, err := types.NewDecimal(n, -4)
	if err != nil {
		return nil, &Error{Code: CodeNumberRange, Path: path.String(), Message: fmt.Sprintf("%s is outside the Cedar decimal range", text)}
	}
	return d, nil
}

// splitNumber reads a JSON number into sign, significant digits (no leading
// or trailing zeros; "" for zero) and a power of ten.
func splitNumber(text string) (neg bool, digits string, exp int, ok bool) {
	s := text
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	mant := s
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil {
			// An exponent too large for int: the value is zero, or out of
			// every range; either way report it as out of range below.
			if strings.Trim(mant, "0.") == "" {
				return false, "", 0, true
			}
			if strings.HasPrefix(s[i+1:], "-") {
				return neg, "1", -1 << 30, true
			}
			return neg, "1", 1 << 30, true
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" || strings.ContainsFunc(intPart+frac, func(r rune) bool { return r < '0' || r > '9' }) {
		return false, "", 0, false
	}
	all := intPart + frac
	exp -= len(frac)
	all = strings.TrimLeft(all, "0")
	trimmed := strings.TrimRight(all, "0")
	exp += len(all) - len(trimmed)
	if trimmed == "" {
		return false, "", 0, true
	}
	return neg, trimmed, exp, true
}

// scaled returns ±digits × 10^exp as an int64 when exp ≥ 0 and it fits.
func scaled(neg bool, digits string, exp int) (int64, bool) {
	if digits == "" {
		return 0, true
	}
	if exp < 0 || len(digits)+exp > 19 {
		return 0, false
	}
	s := digits + strings.Repeat("0", exp)
	if neg {
		s = "-" + s
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// pathBuf builds error paths without allocating on the happy path.
type pathBuf struct{ b []byte }

func (p *pathBuf) field(name string) int {
	mark := len(p.b)
	if isIdent(name) {
		p.b = append(p.b, '.')
		p.b = append(p.b, name...)
	} else {
		p.b = append(p.b, '[')
		p.b = strconv.AppendQuote(p.b, name)
		p.b = append(p.b, ']')
	}
	return mark
}

func (p *pathBuf) index(i int) int {
	mark := len(p.b)
	p.b = append(p.b, '[')
	p.b = strconv.AppendInt(p.b, int64(i), 10)
	p.b = append(p.b, ']')
	return mark
}

func (p *pathBuf) reset(mark int) { p.b = p.b[:mark] }
func (p *pathBuf) String() string { return string(p.b) }

func (p *pathBuf) root() string {
	if i := bytes.IndexAny(p.b, ".["); i >= 0 {
		return string(p.b[:i])
	}
	return string(p.b)
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}
