package config

import (
	"os"
	"strings"
	"testing"
)

// TestEveryEnvVarDocumented keeps docs/configuration.md true: every
// variable ApplyEnv reads is documented there.
func TestEveryEnvVarDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range EnvNames(&Config{}) {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("%s is not documented in docs/configuration.md", name)
		}
	}
}
