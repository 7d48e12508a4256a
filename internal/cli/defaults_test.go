package cli

import (
	"flag"
	"regexp"
	"strings"
	"testing"

	"github.com/kgate/kgate/internal/config"
)

// commandFlags builds the flags of every config-bearing command.
func commandFlags() map[string]*configFlags {
	out := map[string]*configFlags{}
	for name, build := range configCommands {
		cf, _ := build(flag.NewFlagSet("kgate "+name, flag.ContinueOnError))
		out[name] = cf
	}
	return out
}

var statedDefault = regexp.MustCompile(`[(,] ?default ([^)]*)\)`)

// A flag's help states the default of its setting, which is config's
// (Default, DefaultHandle, DefaultStream), and states none when the
// setting's default is empty, unless the default is computed (then the
// help shows how, from the same code).
func TestFlagHelpStatesConfigDefaults(t *testing.T) {
	computed := map[string]string{
		"group":     config.Handle{}.GroupFor("HANDLER"),
		"dlq-topic": config.Handle{}.DLQTopicFor("GROUP"),
	}
	for cmd, cf := range commandFlags() {
		cf.fs.VisitAll(func(f *flag.Flag) {
			target, ok := cf.targets[f.Name]
			if !ok {
				return
			}
			def := config.Default()
			want := config.FormatValue(target(&def))
			if c, ok := computed[f.Name]; ok && want == "" && cmd == "handle" {
				want = c
			}
			var got string
			if m := statedDefault.FindStringSubmatch(f.Usage); m != nil {
				got = m[1]
			}
			if got != want {
				t.Errorf("kgate %s --%s: help states default %q, config's is %q (%s)", cmd, f.Name, got, want, f.Usage)
			}
			if strings.Count(f.Usage, "default") > 1 {
				t.Errorf("kgate %s --%s: help states more than one default: %s", cmd, f.Name, f.Usage)
			}
		})
	}
}
