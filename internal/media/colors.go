package media

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/kgate/kgate/internal/config"
)

// Color is one dominant colour of a frame: the mean RGB of the pixels in
// its cluster, as hex, and the share of the frame's pixels in the cluster.
type Color struct {
	RGB   [3]uint8 `json:"rgb"`
	Hex   string   `json:"hex"`
	Share float64  `json:"share"`
}

// ColorOptions tune DominantColors. Zero values take the defaults: K,
// SampleSize and Restarts those of config's handle.colors section.
type ColorOptions struct {
	// K is the number of colours to find. Fewer come back when the frame
	// has fewer distinct colours.
	K int
	// SampleSize is how many pixels (sampled deterministically) the
	// clustering runs on. Shares and final colours are computed over
	// every pixel.
	SampleSize int
	// Restarts is how many k-means++ runs compete; the lowest inertia
	// wins.
	Restarts int
	// MaxIterations bounds Lloyd iterations per run (default 50).
	MaxIterations int
	// Seed seeds the sampling and the k-means++ initialisation (default
	// 1). The same frame and options always give the same colours.
	Seed uint64
}

func (o ColorOptions) withDefaults() ColorOptions {
	d := config.DefaultHandle().Colors // kgate handle's defaults, written once
	if o.K <= 0 {
		o.K = d.K
	}
	if o.SampleSize <= 0 {
		o.SampleSize = d.SampleSize
	}
	if o.Restarts <= 0 {
		o.Restarts = d.Restarts
	}
	if o.MaxIterations <= 0 {
		o.MaxIterations = 50
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// MaxK bounds ColorOptions.K.
const MaxK = 64

// DominantColors finds the frame's o.K dominant colours with k-means++ on
// a deterministic sample of its pixels and returns them sorted by share,
// largest first (ties by hex). It is deterministic: the same frame and
// options give the same result.
func DominantColors(f *Frame, o ColorOptions) ([]Color, error) {
	o = o.withDefaults()
	if o.K > MaxK {
		return nil, fmt.Errorf("k must be at most %d, got %d", MaxK, o.K)
	}
	n := f.Width * f.Height
	if n <= 0 || len(f.Pix) < n*3 {
		return nil, fmt.Errorf("frame %dx%d has %d bytes: %w", f.Width, f.Height, len(f.Pix), ErrNoFrame)
	}
	sample := samplePixels(f.Pix[:n*3], n, o.SampleSize, o.Seed)

	var best []point
	bestInertia := math.Inf(1)
	for r := 0; r < o.Restarts; r++ {
		rng := rand.New(rand.NewPCG(o.Seed, uint64(r)+1))
		centers := kmeansPlusPlus(sample, o.K, rng)
		inertia := lloyd(sample, centers, o.MaxIterations)
		if inertia < bestInertia {
			best, bestInertia = centers, inertia
		}
	}
	return finalColors(f.Pix[:n*3], n, best), nil
}

type point [3]float64

// samplePixels picks m pixels uniformly at random (with replacement) using
// a generator seeded with seed, or every pixel when there are at most m.
func samplePixels(pix []byte, n, m int, seed uint64) []point {
	if n <= m {
		out := make([]point, n)
		for i := range out {
			out[i] = point{float64(pix[3*i]), float64(pix[3*i+1]), float64(pix[3*i+2])}
		}
		return out
	}
	rng := rand.New(rand.NewPCG(seed, 0x6b67617465)) // "kgate"
	out := make([]point, m)
	for i := range out {
		j := rng.IntN(n)
		out[i] = point{float64(pix[3*j]), float64(pix[3*j+1]), float64(pix[3*j+2])}
	}
	return out
}

func dist2(a, b point) float64 {
	d0, d1, d2 := a[0]-b[0], a[1]-b[1], a[2]-b[2]
	return d0*d0 + d1*d1 + d2*d2
}

// kmeansPlusPlus chooses up to k initial centres: the first uniformly, each
// next one with probability proportional to its squared distance to the
// nearest centre chosen so far. It stops early when every point already
// coincides with a centre (fewer distinct colours than k).
func kmeansPlusPlus(pts []point, k int, rng *rand.Rand) []point {
	centers := make([]point, 0, k)
	centers = append(centers, pts[rng.IntN(len(pts))])
	d := make([]float64, len(pts))
	for i, p := range pts {
		d[i] = dist2(p, centers[0])
	}
	for len(centers) < k {
		var sum float64
		for _, v := range d {
			sum += v
		}
		if sum == 0 {
			break
		}
		target := rng.Float64() * sum
		idx := len(pts) - 1
		for i, v := range d {
			target -= v
			if target < 0 {
				idx = i
				break
			}
		}
		if d[idx] == 0 { // only possible through rounding at the tail
			for i := len(d) - 1; i >= 0; i-- {
				if d[i] > 0 {
					idx = i
					break
				}
			}
		}
		c := pts[idx]
		centers = append(centers, c)
		for i, p := range pts {
			if v := dist2(p, c); v < d[i] {
				d[i] = v
			}
		}
	}
	return centers
}

// lloyd refines centers in place and returns the final inertia (sum of
// squared distances of points to their nearest centre). Each iteration
// assigns and accumulates in one pass over the points.
func lloyd(pts []point, centers []point, maxIter int) float64 {
	k := len(centers)
	assign := make([]int32, len(pts))
	for i := range assign {
		assign[i] = -1
	}
	sums := make([]point, k)
	counts := make([]int, k)
	for iter := 0; iter < maxIter; iter++ {
		clear(sums)
		clear(counts)
		changed := 0
		for i := range pts {
			p := &pts[i]
			best, bestD := 0, math.MaxFloat64
			for c := range centers {
				d0, d1, d2 := p[0]-centers[c][0], p[1]-centers[c][1], p[2]-centers[c][2]
				if d := d0*d0 + d1*d1 + d2*d2; d < bestD {
					best, bestD = c, d
				}
			}
			if int32(best) != assign[i] {
				assign[i] = int32(best)
				changed++
			}
			sums[best][0] += p[0]
			sums[best][1] += p[1]
			sums[best][2] += p[2]
			counts[best]++
		}
		if changed == 0 {
			break // the centres are already the means of their points
		}
		shift := 0.0
		for c := range centers {
			if counts[c] == 0 {
				// An empty cluster takes the point farthest from
				// its centre, deterministically.
				far, farD := 0, -1.0
				for i, p := range pts {
					if dd := dist2(p, centers[assign[i]]); dd > farD {
						far, farD = i, dd
					}
				}
				centers[c] = pts[far]
				shift = math.MaxFloat64
				continue
			}
			n := float64(counts[c])
			next := point{sums[c][0] / n, sums[c][1] / n, sums[c][2] / n}
			shift = max(shift, dist2(next, centers[c]))
			centers[c] = next
		}
		// Converged when no centre moves by more than a tenth of a
		// colour level: further iterations cannot change a reported
		// (rounded) colour.
		if shift < 0.01 {
			break
		}
	}
	var inertia float64
	for _, p := range pts {
		_, d := nearest(p, centers)
		inertia += d
	}
	return inertia
}

func nearest(p point, centers []point) (int, float64) {
	best, bestD := 0, math.Inf(1)
	for c, ctr := range centers {
		if dd := dist2(p, ctr); dd < bestD {
			best, bestD = c, dd
		}
	}
	return best, bestD
}

// finalColors assigns every pixel to its nearest centre and reports each
// non-empty cluster's mean colour and share, largest share first.
func finalColors(pix []byte, n int, centers []point) []Color {
	k := len(centers)
	sums := make([][3]uint64, k)
	counts := make([]int, k)
	// Integer centres (x2, so that rounding is exact at half levels) make
	// the distance computation cheap; a small direct-mapped cache of
	// colour -> cluster skips it for the colours that repeat, which in
	// a camera frame is most of them.
	ic := make([][3]int32, k)
	for c, p := range centers {
		ic[c] = [3]int32{int32(math.Round(2 * p[0])), int32(math.Round(2 * p[1])), int32(math.Round(2 * p[2]))}
	}
	const cacheBits = 12
	var cacheKey [1 << cacheBits]uint32 // rgb+1; 0 is empty
	var cacheVal [1 << cacheBits]uint8
	for i := 0; i < n; i++ {
		r, g, b := pix[3*i], pix[3*i+1], pix[3*i+2]
		key := uint32(r)<<16 | uint32(g)<<8 | uint32(b)
		slot := (key * 2654435761) >> (32 - cacheBits)
		var c int
		if cacheKey[slot] == key+1 {
			c = int(cacheVal[slot])
		} else {
			r2, g2, b2 := 2*int32(r), 2*int32(g), 2*int32(b)
			best := int32(math.MaxInt32)
			for j, ctr := range ic {
				d0, d1, d2 := r2-ctr[0], g2-ctr[1], b2-ctr[2]
				if d := d0*d0 + d1*d1 + d2*d2; d < best {
					best, c = d, j
				}
			}
			cacheKey[slot], cacheVal[slot] = key+1, uint8(c)
		}
		sums[c][0] += uint64(r)
		sums[c][1] += uint64(g)
		sums[c][2] += uint64(b)
		counts[c]++
	}
	out := make([]Color, 0, k)
	for c := range centers {
		if counts[c] == 0 {
			continue
		}
		cnt := uint64(counts[c])
		var rgb [3]uint8
		for j := range rgb {
			rgb[j] = uint8((sums[c][j] + cnt/2) / cnt)
		}
		out = append(out, Color{
			RGB:   rgb,
			Hex:   fmt.Sprintf("#%02x%02x%02x", rgb[0], rgb[1], rgb[2]),
			Share: float64(counts[c]) / float64(n),
		})
	}
	slices.SortFunc(out, func(a, b Color) int {
		switch {
		case a.Share > b.Share:
			return -1
		case a.Share < b.Share:
			return 1
		}
		if a.Hex < b.Hex {
			return -1
		} else if a.Hex > b.Hex {
			return 1
		}
		return 0
	})
	return out
}
