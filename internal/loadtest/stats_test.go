package loadtest

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var hundred Latencies
	for i := 100; i >= 1; i-- { // unsorted on purpose
		hundred = append(hundred, ms(i))
	}
	tests := []struct {
		name string
		l    Latencies
		p    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", Latencies{ms(7)}, 0.99, ms(7)},
		{"median of 1..100", hundred, 0.50, ms(50)},
		{"p99 of 1..100", hundred, 0.99, ms(99)},
		{"max", hundred, 1, ms(100)},
		{"p50 of two", Latencies{ms(2), ms(1)}, 0.5, ms(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.Percentile(tt.p); got != tt.want {
				t.Fatalf("Percentile(%v) = %s, want %s", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	h := Summarize([]HeapSample{{0, 10}, {time.Second, 30}, {2 * time.Second, 20}})
	if h.Start != 10 || h.Peak != 30 || h.PeakAt != time.Second || h.End != 20 || h.Samples != 3 {
		t.Fatalf("%+v", h)
	}
	if (Summarize(nil) != HeapSummary{}) {
		t.Fatal("summary of no samples")
	}
}

func TestHeapSampler(t *testing.T) {
	s := StartHeapSampler(time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	samples := s.Stop()
	if len(samples) < 2 {
		t.Fatalf("%d samples, want at least the first and the last", len(samples))
	}
	for i, x := range samples {
		if x.HeapInuse == 0 {
			t.Fatalf("sample %+v has no heap", x)
		}
		if i > 0 && x.At < samples[i-1].At {
			t.Fatalf("samples out of order: %+v", samples)
		}
	}
}
