package scratch

import (
	"os"
	"strconv"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kgate/kgate/internal/testutil"
)

func TestProf(t *testing.T) {
	clients, _ := strconv.Atoi(os.Getenv("CLIENTS"))
	g := testutil.StartGateway(t, nil)
	v := make([]byte, 100)
	rand.Read(v)
	rec := `{"value":"` + base64.StdEncoding.EncodeToString(v) + `"}`
	body := []byte(`{"records":[` + strings.TrimSuffix(strings.Repeat(rec+",", 100), ",") + `]}`)
	http.Post(g.URL+"/topics/p", "application/vnd.kafka.binary.v2+json", bytes.NewReader(body))
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	hc := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	deadline := time.Now().Add(5 * time.Second)
	var n int
	var mu sync.Mutex
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				resp, err := hc.Post(g.URL+"/topics/p", "application/vnd.kafka.binary.v2+json", bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d req/s", n/5)
}
