package cedarjson

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/cedar-policy/cedar-go/types"
)

// FromGo converts a value decoded from JSON by a Go decoder (identity token
// claims, config values): map[string]any, []any, string, bool, json.Number,
// float64, integers and nil, with the same mapping and limits as FromJSON.
// A nil result with a nil error means the value was null.
func FromGo(v any, root string, lim Limits) (types.Value, error) {
	c := converter{lim: lim}
	out, err := c.goValue(v, &pathBuf{b: []byte(root)}, 0)
	if err == errNull {
		return nil, nil
	}
	return out, err
}

func (c *converter) goValue(v any, path *pathBuf, depth int) (types.Value, error) {
	if err := c.count(path); err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case nil:
		return nil, errNull
	case string:
		return types.String(v), nil
	case bool:
		return types.Boolean(v), nil
	case json.Number:
		return number(string(v), numAuto, path)
	case float64:
		return number(strconv.FormatFloat(v, 'g', -1, 64), numAuto, path)
	case float32:
		return number(strconv.FormatFloat(float64(v), 'g', -1, 32), numAuto, path)
	case int:
		return types.Long(v), nil
	case int64:
		return types.Long(v), nil
	case int32:
		return types.Long(v), nil
	case []string:
		vs := make([]types.Value, len(v))
		for i, s := range v {
			vs[i] = types.String(s)
		}
		c.values += len(v)
		if c.values > c.lim.MaxValues {
			return nil, &Error{Code: CodeTooManyValues, Path: path.String(), Message: fmt.Sprintf("more than %d values", c.lim.MaxValues)}
		}
		return types.NewSet(vs...), nil
	case []any:
		if depth+1 > c.lim.MaxDepth {
			return nil, &Error{Code: CodeTooDeep, Path: path.String(), Message: fmt.Sprintf("nested deeper than %d levels", c.lim.MaxDepth)}
		}
		var vs []types.Value
		for i, e := range v {
			mark := path.index(i)
			ev, err := c.goValue(e, path, depth+1)
			path.reset(mark)
			if err == errNull {
				continue
			}
			if err != nil {
				return nil, err
			}
			vs = append(vs, ev)
		}
		return types.NewSet(vs...), nil
	case map[string]any:
		if depth+1 > c.lim.MaxDepth {
			return nil, &Error{Code: CodeTooDeep, Path: path.String(), Message: fmt.Sprintf("nested deeper than %d levels", c.lim.MaxDepth)}
		}
		// Sorted, so that the first error reported is always the same one.
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		m := make(types.RecordMap, len(v))
		for _, k := range keys {
			mark := path.field(k)
			ev, err := c.goValue(v[k], path, depth+1)
			path.reset(mark)
			if err == errNull {
				continue
			}
			if err != nil {
				return nil, err
			}
			m[types.String(k)] = ev
		}
		return types.NewRecord(m), nil
	default:
		return nil, &Error{Code: CodeUnsupported, Path: path.String(), Message: fmt.Sprintf("unsupported value of type %T", v)}
	}
}
