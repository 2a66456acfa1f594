package cedarjson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go/types"
)

func dec(t *testing.T, s string) types.Decimal {
	t.Helper()
	d, err := types.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFromJSON(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","properties":{
		"n": {"type": "number"}, "i": {"type": "integer"}, "o": {"type": ["number", "null"]},
		"list": {"type": "array", "items": {"type": "number"}},
		"nested": {"type": "object", "properties": {"x": {"type": "integer"}}, "additionalProperties": {"type": "number"}}}}`)
	shape, err := CompileSchema(schema)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		in    string
		shape *Shape
		want  types.Value
	}{
		{"empty object", `{}`, nil, types.NewRecord(nil)},
		{"scalars", `{"s":"x","t":true,"f":false}`, nil, types.NewRecord(types.RecordMap{"s": types.String("x"), "t": types.True, "f": types.False})},
		{"integer is Long", `{"a":42}`, nil, types.NewRecord(types.RecordMap{"a": types.Long(42)})},
		{"negative", `{"a":-7}`, nil, types.NewRecord(types.RecordMap{"a": types.Long(-7)})},
		{"integral float is Long", `{"a":5.0}`, nil, types.NewRecord(types.RecordMap{"a": types.Long(5)})},
		{"exponent is Long", `{"a":1e3}`, nil, types.NewRecord(types.RecordMap{"a": types.Long(1000)})},
		{"fraction is decimal", `{"a":1.5}`, nil, types.NewRecord(types.RecordMap{"a": dec(t, "1.5")})},
		{"four digits", `{"a":-0.0001}`, nil, types.NewRecord(types.RecordMap{"a": dec(t, "-0.0001")})},
		{"trailing zeros", `{"a":2.50000000}`, nil, types.NewRecord(types.RecordMap{"a": dec(t, "2.5")})},
		{"negative exponent", `{"a":15e-1}`, nil, types.NewRecord(types.RecordMap{"a": dec(t, "1.5")})},
		{"max long", `{"a":9223372036854775807}`, nil, types.NewRecord(types.RecordMap{"a": types.Long(9223372036854775807)})},
		{"min long", `{"a":-9223372036854775808}`, nil, types.NewRecord(types.RecordMap{"a": types.Long(-9223372036854775808)})},
		{"zero forms", `{"a":0,"b":-0,"c":0.0,"d":0e99999999999}`, nil, types.NewRecord(types.RecordMap{"a": types.Long(0), "b": types.Long(0), "c": types.Long(0), "d": types.Long(0)})},
		{"null dropped", `{"a":null,"b":[1,null]}`, nil, types.NewRecord(types.RecordMap{"b": types.NewSet(types.Long(1))})},
		{"array is set", `{"a":[3,1,3]}`, nil, types.NewRecord(types.RecordMap{"a": types.NewSet(types.Long(1), types.Long(3))})},
		{"nested", `{"a":{"b":{"c":"d"}}}`, nil, types.NewRecord(types.RecordMap{"a": types.NewRecord(types.RecordMap{"b": types.NewRecord(types.RecordMap{"c": types.String("d")})})})},
		{"schema number", `{"n":5}`, shape, types.NewRecord(types.RecordMap{"n": dec(t, "5.0")})},
		{"schema number or null", `{"o":5}`, shape, types.NewRecord(types.RecordMap{"o": dec(t, "5.0")})},
		{"schema integer", `{"i":5.0}`, shape, types.NewRecord(types.RecordMap{"i": types.Long(5)})},
		{"schema items", `{"list":[1,2.5]}`, shape, types.NewRecord(types.RecordMap{"list": types.NewSet(dec(t, "1.0"), dec(t, "2.5"))})},
		{"schema nested and additional", `{"nested":{"x":3,"y":3}}`, shape, types.NewRecord(types.RecordMap{"nested": types.NewRecord(types.RecordMap{"x": types.Long(3), "y": dec(t, "3.0")})})},
		{"schema unknown field by value", `{"z":3}`, shape, types.NewRecord(types.RecordMap{"z": types.Long(3)})},
		{"unicode", `{"é":"\u00e9\ud83d\ude00"}`, nil, types.NewRecord(types.RecordMap{"é": types.String("é😀")})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromJSON([]byte(tt.in), "input", tt.shape, DefaultLimits(), true)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFromJSONErrors(t *testing.T) {
	shape, _ := CompileSchema(json.RawMessage(`{"properties":{"i":{"type":"integer"}}}`))
	small := Limits{MaxBytes: 100, MaxDepth: 3, MaxValues: 5}
	tests := []struct {
		name   string
		in     string
		shape  *Shape
		lim    Limits
		code   string
		path   string
		substr string
	}{
		{"not an object", `[1]`, nil, DefaultLimits(), CodeNotObject, "input", ""},
		{"string", `"x"`, nil, DefaultLimits(), CodeNotObject, "input", ""},
		{"truncated", `{"a":`, nil, DefaultLimits(), CodeInvalidJSON, "input", ""},
		{"trailing data", `{} {}`, nil, DefaultLimits(), CodeInvalidJSON, "input", "after the value"},
		{"duplicate key", `{"a":1,"a":2}`, nil, DefaultLimits(), CodeInvalidJSON, "input", "duplicate"},
		{"invalid utf8", "{\"a\":\"\xff\"}", nil, DefaultLimits(), CodeInvalidJSON, "input", "UTF-8"},
		{"empty", ``, nil, DefaultLimits(), CodeInvalidJSON, "input", ""},
		{"too large", `{"a":"` + strings.Repeat("x", 200) + `"}`, nil, small, CodeTooLarge, "input", "208 bytes"},
		{"too deep", `{"a":{"b":{"c":{}}}}`, nil, small, CodeTooDeep, "input.a.b.c", "3 levels"},
		{"too many values", `{"a":[1,2,3,4,5]}`, nil, small, CodeTooManyValues, "input.a[3]", ""},
		{"precision", `{"a":{"b":[0.12345]}}`, nil, DefaultLimits(), CodeDecimalPrecision, "input.a.b[0]", "0.12345"},
		{"long overflow", `{"a":9223372036854775808}`, nil, DefaultLimits(), CodeNumberRange, "input.a", ""},
		{"decimal overflow", `{"a":922337203685478.5}`, nil, DefaultLimits(), CodeNumberRange, "input.a", ""},
		{"huge exponent", `{"a":1e999999999999}`, nil, DefaultLimits(), CodeNumberRange, "input.a", ""},
		{"tiny exponent", `{"a":1e-999999999999}`, nil, DefaultLimits(), CodeDecimalPrecision, "input.a", ""},
		{"schema mismatch", `{"i":1.5}`, shape, DefaultLimits(), CodeSchemaMismatch, "input.i", "integer"},
		{"odd key in path", `{"a b":[0.123456]}`, nil, DefaultLimits(), CodeDecimalPrecision, `input["a b"][0]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromJSON([]byte(tt.in), "input", tt.shape, tt.lim, true)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *Error, got %v", err)
			}
			if ce.Code != tt.code || ce.Path != tt.path || !strings.Contains(ce.Message, tt.substr) {
				t.Fatalf("got %s %q %q, want %s %q containing %q", ce.Code, ce.Path, ce.Message, tt.code, tt.path, tt.substr)
			}
		})
	}
}

func TestFromGo(t *testing.T) {
	got, err := FromGo(map[string]any{
		"n": json.Number("2.5"), "f": 3.0, "g": 0.25, "i": 7, "s": []string{"a", "b"},
		"l": []any{"x", nil, true}, "m": map[string]any{"k": nil, "v": int64(1)}, "z": nil,
	}, "claims", DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := types.NewRecord(types.RecordMap{
		"n": dec(t, "2.5"), "f": types.Long(3), "g": dec(t, "0.25"), "i": types.Long(7),
		"s": types.NewSet(types.String("a"), types.String("b")),
		"l": types.NewSet(types.String("x"), types.True),
		"m": types.NewRecord(types.RecordMap{"v": types.Long(1)}),
	})
	if !got.Equal(want) {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if v, err := FromGo(nil, "x", DefaultLimits()); v != nil || err != nil {
		t.Fatalf("nil: %v %v", v, err)
	}
	deep := any("leaf")
	for i := 0; i < 40; i++ {
		deep = []any{deep}
	}
	if _, err := FromGo(deep, "x", DefaultLimits()); err == nil || err.(*Error).Code != CodeTooDeep {
		t.Fatalf("deep: %v", err)
	}
	if _, err := FromGo(struct{}{}, "x", DefaultLimits()); err == nil || err.(*Error).Code != CodeUnsupported {
		t.Fatalf("struct: %v", err)
	}
	if _, err := FromGo(make([]string, 20000), "x", DefaultLimits()); err == nil || err.(*Error).Code != CodeTooManyValues {
		t.Fatalf("many: %v", err)
	}
}

func TestCompileSchema(t *testing.T) {
	if s, err := CompileSchema(nil); s != nil || err != nil {
		t.Fatal("nil schema")
	}
	if _, err := CompileSchema(json.RawMessage(`{`)); err == nil {
		t.Fatal("invalid schema accepted")
	}
	// A schema without numbers has no shape: conversion by value.
	if s, _ := CompileSchema(json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)); s != nil {
		t.Fatal("shape for a schema without numbers")
	}
}

func TestAdditionalPropertiesSkipsDeclared(t *testing.T) {
	shape, _ := CompileSchema(json.RawMessage(`{"properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":{"type":"number"}}`))
	got, err := FromJSON([]byte(`{"a":1,"c":1}`), "input", shape, DefaultLimits(), true)
	if err != nil {
		t.Fatal(err)
	}
	want := types.NewRecord(types.RecordMap{"a": types.Long(1), "c": dec(t, "1.0")})
	if !got.Equal(want) {
		t.Fatalf("got %s, want %s", got, want)
	}
}
