package policy

import (
	"os"
	"strings"

	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
)

// LoadSchema reads a Cedar schema, in the Cedar schema syntax or (for files
// ending in .json) the JSON schema format.
func LoadSchema(path string) (*schema.Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Code: CodeSchema, File: path, Message: errText(err)}
	}
	return ParseSchema(path, b)
}

// ParseSchema reads a Cedar schema from b: JSON if name ends in .json, else
// the Cedar schema syntax.
func ParseSchema(name string, b []byte) (*schema.Schema, error) {
	var s schema.Schema
	s.SetFilename(name)
	var err error
	if strings.HasSuffix(name, ".json") {
		err = s.UnmarshalJSON(b)
	} else {
		err = s.UnmarshalCedar(b)
	}
	if err != nil {
		pe := parseError(name, b, err)
		pe.Code = CodeSchema
		return nil, pe
	}
	return &s, nil
}

// Validate type-checks every policy of the set against a schema (strict
// mode, as Cedar's validator). Each error is located at its policy.
func (s *Set) Validate(sc *schema.Schema) error {
	res, err := sc.Resolve()
	if err != nil {
		return &Error{Code: CodeSchema, File: "schema", Message: err.Error()}
	}
	v := validate.New(res)
	var errs Errors
	for _, p := range s.policies {
		err := v.Policy(p.ID, (*xast.Policy)(p.cedar.AST()))
		if err == nil {
			continue
		}
		for _, e := range flatten(err) {
			errs = append(errs, &Error{Code: CodeValidation, File: p.File, Line: p.Line, Column: p.Column, Message: e.Error()})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
