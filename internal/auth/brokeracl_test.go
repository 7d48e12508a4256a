package auth_test

import (
	"os"
	"strings"
	"testing"

	"github.com/kgate/kgate/internal/auth"
	"github.com/kgate/kgate/internal/testutil"
)

var protected = []string{"_kgate_tokens", "_kgate_usage", "_kgate_audit"}

func loadPolicy(t testing.TB, permissions string) *auth.Policy {
	t.Helper()
	u, err := auth.LoadUsers("testdata/users.yml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.ParsePermissions([]byte(permissions))
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewPolicy(u, p, protected)
}

func samplePermissions(t testing.TB) string {
	b, err := os.ReadFile("testdata/permissions.yml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKafkaACLsGolden(t *testing.T) {
	var b strings.Builder
	for _, a := range loadPolicy(t, samplePermissions(t)).KafkaACLs() {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	testutil.Golden(t, "kafka_acls", []byte(b.String()))
}
