package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// RequireTool returns the path of an external program the test needs. When
// it is missing the test is skipped, unless KGATE_REQUIRE_INTEROP is set
// (as in CI), where a missing tool is a failure.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name+" is not installed")
	}
	return p
}

// RequirePython returns Debian's python3 after checking that it can import
// every module (python3-confluent-kafka, python3-kafka, ...).
func RequirePython(t testing.TB, modules ...string) string {
	t.Helper()
	const py = "/usr/bin/python3" // Debian's modules are not seen by pyenv's python3
	if _, err := os.Stat(py); err != nil {
		missing(t, py+" is not installed")
	}
	for _, m := range modules {
		if out, err := exec.Command(py, "-c", "import "+m).CombinedOutput(); err != nil {
			missing(t, "python module "+m+" is not importable: "+string(out))
		}
	}
	return py
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("KGATE_REQUIRE_INTEROP") != "" {
		t.Fatalf("%s (KGATE_REQUIRE_INTEROP is set)", why)
	}
	t.Skip(why)
}
