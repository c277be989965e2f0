package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// events streams server-sent events: "block" for each new pool block and
// "payout" for each payout change, as the API's JSON objects. The stream
// starts from now, or from ?since= (RFC 3339) to replay; a comment line
// every poll keeps proxies from closing an idle stream.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		h.fail(w, r, true, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	since := h.cfg.Now().UTC()
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			h.fail(w, r, true, http.StatusBadRequest, "since must be an RFC 3339 time")
			return
		}
		since = t.UTC()
	}
	network := networkOf(r)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 5000\n\n")
	flusher.Flush()
	h.metrics.sseOpen.Inc()
	defer h.metrics.sseOpen.Dec()

	blocksAfter, payoutsAfter := since, since
	ticker := time.NewTicker(h.cfg.EventPoll)
	defer ticker.Stop()
	send := func(kind, id string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\nid: %s\ndata: %s\n\n", kind, id, b); err != nil {
			return err
		}
		h.metrics.sseEvents.WithLabelValues(kind).Inc()
		return nil
	}
	for {
		blocks, err := h.reader.BlocksSince(r.Context(), network, blocksAfter, 100)
		if err == nil {
			for _, b := range blocks {
				if err = send("block", b.Hash, apiBlock(b)); err != nil {
					return
				}
				blocksAfter = b.DiscoveredAt
			}
			var payouts []payoutChange
			payouts, err = h.payoutChanges(r, network, payoutsAfter)
			for _, p := range payouts {
				if err = send("payout", p.api.PayoutID+"/"+p.api.Status, p.api); err != nil {
					return
				}
				payoutsAfter = p.at
			}
		}
		if err != nil && r.Context().Err() == nil {
			h.log.WarnContext(r.Context(), "web: event stream", "err", err)
		}
		if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
			return
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-ticker.C:
		}
	}
}

type payoutChange struct {
	api APIPayout
	at  time.Time
}

func (h *Handler) payoutChanges(r *http.Request, network string, after time.Time) ([]payoutChange, error) {
	ps, err := h.reader.PayoutsSince(r.Context(), network, after, 100)
	if err != nil {
		return nil, err
	}
	out := make([]payoutChange, 0, len(ps))
	for _, p := range ps {
		at := p.PlannedAt
		for _, t := range []time.Time{p.SentAt, p.ConfirmedAt, p.FailedAt, p.HaltedAt, p.ChangedAt} {
			if t.After(at) {
				at = t
			}
		}
		out = append(out, payoutChange{api: apiPayout(p), at: at})
	}
	return out, nil
}
