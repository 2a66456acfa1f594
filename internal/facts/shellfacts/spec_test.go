package shellfacts

import (
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// optionLine matches an option's line in GNU --help output:
// "  -k, --key=KEYDEF   …", "      --color[=WHEN]  …", "  -n  …".
var optionLine = regexp.MustCompile(`^\s{1,8}(?:-([A-Za-z0-9])(?:\[[A-Z]+\])?,?\s*(?:[A-Z_]+,?\s)?)?(?:--([a-z0-9][a-z0-9-]*)(\[=|=| <| [A-Z])?)?`)

// TestSpecsCoverHelp checks the table against the tools installed here:
// every option their --help lists must be in the spec, taking a value
// exactly when the help says so. getopt_long accepts any unique prefix of
// a long option, so a missing one could be reached by an abbreviation
// that the table would read as another option; and an option wrongly
// taken to have a value would hide the argument after it.
func TestSpecsCoverHelp(t *testing.T) {
	names := make([]string, 0, len(specs))
	for n, sp := range specs {
		if sp.gnu {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	checked := 0
	for _, name := range names {
		path, err := exec.LookPath(name)
		if err != nil {
			t.Logf("%s is not installed here; its spec is not checked", name)
			continue
		}
		out, err := exec.Command(path, "--help").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--help") {
			t.Logf("%s --help: %v", name, err)
			continue
		}
		checked++
		sp := specs[name]
		// The forms each long option is shown in: a line may show
		// --check and another --check=quiet.
		forms := map[string]string{}
		for _, l := range strings.Split(string(out), "\n") {
			m := optionLine.FindStringSubmatch(l)
			if m == nil || (m[1] == "" && m[2] == "") {
				continue
			}
			short, long, val := m[1], m[2], strings.TrimSpace(m[3])
			if long != "" && !slices.Contains(helpIgnored, name+" --"+long) {
				forms[long] += "(" + val + ")"
			}
			if short != "" && !slices.Contains(helpIgnored, name+" -"+short) {
				o, ok := sp.short[short[0]]
				takes := val == "=" || val == "<" || (val != "" && val != "[=")
				switch {
				case !ok:
					t.Errorf("%s: -%s is in --help but not in the spec (line %q)", name, short, l)
				case long != "" && takes && o.roles == "":
					t.Errorf("%s: -%s takes a value (--%s does), the spec says it does not", name, short, long)
				case long != "" && val == "" && o.roles != "" && !o.optional:
					t.Errorf("%s: -%s takes no value (--%s does not), the spec says it does", name, short, long)
				}
			}
		}
		for long, f := range forms {
			o, ok := sp.long[long]
			flag := strings.Contains(f, "()")
			withValue := strings.Contains(f, "(=)") || strings.Contains(f, "(<)") || regexp.MustCompile(`\([A-Z]`).MatchString(f)
			optional := strings.Contains(f, "([=)") || (flag && withValue)
			switch {
			case !ok:
				t.Errorf("%s: --%s is in --help but not in the spec", name, long)
			case optional && !o.optional:
				t.Errorf("%s: --%s takes an optional value, the spec says otherwise", name, long)
			case withValue && !optional && (o.roles == "" || o.optional):
				t.Errorf("%s: --%s takes a value, the spec says otherwise", name, long)
			case flag && !withValue && o.roles != "" && !o.optional:
				t.Errorf("%s: --%s takes no value, the spec says it does", name, long)
			}
		}
	}
	if checked == 0 {
		t.Skip("none of the GNU tools is installed here")
	}
}

// helpIgnored are --help lines the pattern misreads: descriptions that
// start like options, and options whose value the line does not show.
var helpIgnored = []string{
	"cut -M", "grep -N", "ls -p", "sort -C", "file -P", "file --parameter",
}
