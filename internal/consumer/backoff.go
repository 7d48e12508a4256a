package consumer

import (
	"math/rand/v2"
	"time"

	"github.com/kgate/kgate/internal/config"
)

// Backoff is an exponential backoff with jitter. Zero fields take
// config's handle.backoff_initial and handle.backoff_max defaults.
type Backoff struct {
	// Initial is the pause after the first failure.
	Initial time.Duration
	// Max caps the pause.
	Max time.Duration
}

func (b Backoff) withDefaults() Backoff {
	d := config.DefaultHandle()
	setDefault(&b.Initial, d.BackoffInitial.D())
	setDefault(&b.Max, d.BackoffMax.D())
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	return b
}

// Delay returns the pause after failed attempt n (1-based): the ceiling
// Initial*2^(n-1), capped at Max, of which a random half is kept
// ("equal jitter"), so retries of many records spread out while the
// pause still grows. hint, when positive, raises the pause to at least
// hint (still capped at Max).
func (b Backoff) Delay(n int, hint time.Duration, rng func(int64) int64) time.Duration {
	b = b.withDefaults()
	ceil := b.Initial
	for i := 1; i < n && ceil < b.Max; i++ {
		ceil *= 2
	}
	if ceil > b.Max {
		ceil = b.Max
	}
	half := ceil / 2
	d := half
	if half > 0 {
		if rng == nil {
			rng = rand.Int64N
		}
		d += time.Duration(rng(int64(half) + 1))
	}
	if hint > d {
		d = min(hint, b.Max)
	}
	return d
}
