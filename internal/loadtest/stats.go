package loadtest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Latencies are durations whose percentiles are reported.
type Latencies []time.Duration

// Percentile returns the p-th percentile (0 < p ≤ 1) by the nearest-rank
// method; it sorts l in place. Zero for no samples.
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	if !slices.IsSorted(l) {
		slices.Sort(l)
	}
	rank := int(p*float64(len(l))+0.999999999) - 1
	return l[min(max(rank, 0), len(l)-1)]
}

// HeapSample is one reading of the heap.
type HeapSample struct {
	At        time.Duration // since the sampler started
	HeapInuse uint64
}

// HeapSampler reads runtime.MemStats.HeapInuse at a fixed period.
type HeapSampler struct {
	mu      sync.Mutex
	samples []HeapSample
	stop    context.CancelFunc
	done    chan struct{}
}

// StartHeapSampler samples now and then every period until Stop.
func StartHeapSampler(period time.Duration) *HeapSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &HeapSampler{stop: cancel, done: make(chan struct{})}
	began := time.Now()
	read := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		s.mu.Lock()
		s.samples = append(s.samples, HeapSample{At: time.Since(began), HeapInuse: m.HeapInuse})
		s.mu.Unlock()
	}
	read()
	go func() {
		defer close(s.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				read()
			}
		}
	}()
	return s
}

// Stop takes a last sample and stops.
func (s *HeapSampler) Stop() []HeapSample {
	s.stop()
	<-s.done
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.mu.Lock()
	defer s.mu.Unlock()
	last := HeapSample{HeapInuse: m.HeapInuse}
	if n := len(s.samples); n > 0 {
		last.At = s.samples[n-1].At
	}
	s.samples = append(s.samples, last)
	return slices.Clone(s.samples)
}

// HeapSummary is the start, peak and end of a run's samples.
type HeapSummary struct {
	Start, Peak, End uint64
	PeakAt           time.Duration
	Samples          int
}

// Summarize returns the first, largest and last sample.
func Summarize(samples []HeapSample) HeapSummary {
	if len(samples) == 0 {
		return HeapSummary{}
	}
	h := HeapSummary{Start: samples[0].HeapInuse, End: samples[len(samples)-1].HeapInuse, Samples: len(samples)}
	for _, s := range samples {
		if s.HeapInuse > h.Peak {
			h.Peak, h.PeakAt = s.HeapInuse, s.At
		}
	}
	return h
}

func (h HeapSummary) String() string {
	return fmt.Sprintf("HeapInuse start %s, peak %s (at %s), end %s over %d samples",
		MiB(h.Start), MiB(h.Peak), h.PeakAt.Round(time.Second), MiB(h.End), h.Samples)
}

// MiB formats bytes in mebibytes.
func MiB(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
