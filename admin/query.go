package admin

import (
	"net/url"
	"strconv"

	"github.com/scailabs/webhookd/kv"
)

// pageQuery is the page and per_page of a list request.
type pageQuery struct {
	page    int
	perPage int
}

func (q pageQuery) offset() int { return (q.page - 1) * q.perPage }

// parsePage reads page (≥ 1, default 1) and per_page (1–100, default 20),
// adding violations at ["query", name].
func parsePage(v *validationError, values url.Values) pageQuery {
	return pageQuery{
		page:    queryInt(v, values, "page", 1, 1, 1<<31-1),
		perPage: queryInt(v, values, "per_page", defaultPerPage, 1, maxPerPage),
	}
}

// queryInt reads one integer query parameter; on a violation it returns
// def so the caller can go on collecting violations.
func queryInt(v *validationError, values url.Values, name string, def, lo, hi int) int {
	if !values.Has(name) {
		return def
	}
	n, err := strconv.ParseInt(values.Get(name), 10, 64)
	if err != nil {
		v.add(typeIntParsing, "Input should be a valid integer, unable to parse string as an integer", "query", name)
		return def
	}
	before := len(v.Detail)
	checkRange(v, n, int64(lo), int64(hi), "query", name)
	if len(v.Detail) > before {
		return def
	}
	return int(n)
}

// parseDeliveryStatus reads the status filter of a delivery list.
func parseDeliveryStatus(v *validationError, values url.Values) kv.DeliveryStatus {
	if !values.Has("status") {
		return ""
	}
	switch s := kv.DeliveryStatus(values.Get("status")); s {
	case kv.DeliveryPending, kv.DeliverySuccess, kv.DeliveryFailed:
		return s
	}
	v.add(typeEnum, "Input should be 'pending', 'success' or 'failed'", "query", "status")
	return ""
}
