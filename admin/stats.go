package admin

import (
	"net/http"

	"github.com/scailabs/webhookd/kv"
)

type statsView struct {
	WebhookID           string            `json:"webhook_id"`
	Total               int64             `json:"total"`
	Success             int64             `json:"success"`
	Failed              int64             `json:"failed"`
	Pending             int64             `json:"pending"`
	SuccessRate         float64           `json:"success_rate"`
	AvgLatencyMS        float64           `json:"avg_latency_ms"`
	P95LatencyMS        float64           `json:"p95_latency_ms"`
	Last24h             windowStatsView   `json:"last_24h"`
	ConsecutiveFailures int               `json:"consecutive_failures"`
	LastDelivery        *lastDeliveryView `json:"last_delivery"`
}

type windowStatsView struct {
	Deliveries   int64   `json:"deliveries"`
	SuccessRate  float64 `json:"success_rate"`
	AvgLatencyMS float64 `json:"avg_latency_ms"`
}

type lastDeliveryView struct {
	ID                 int64             `json:"id"`
	Status             kv.DeliveryStatus `json:"status"`
	ResponseStatusCode *int              `json:"response_status_code"`
	At                 apiTime           `json:"at"`
}

func newStatsView(webhookID string, s *kv.Stats) statsView {
	v := statsView{
		WebhookID:           webhookID,
		Total:               s.Total,
		Success:             s.Success,
		Failed:              s.Failed,
		Pending:             s.Pending,
		SuccessRate:         s.SuccessRate,
		AvgLatencyMS:        s.AvgLatencyMS,
		P95LatencyMS:        s.P95LatencyMS,
		Last24h:             windowStatsView(s.Last24h),
		ConsecutiveFailures: s.ConsecutiveFailures,
	}
	if ld := s.LastDelivery; ld != nil {
		v.LastDelivery = &lastDeliveryView{ID: ld.ID, Status: ld.Status, ResponseStatusCode: intPtr(ld.ResponseStatusCode), At: apiTime(ld.At)}
	}
	return v
}

func (a *API) webhookStats(w http.ResponseWriter, r *http.Request) error {
	wh, _, err := a.loadWebhook(r)
	if err != nil {
		return err
	}
	s, err := a.store.WebhookStats(r.Context(), wh.ID, a.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newStatsView(wh.ID, s))
	return nil
}
