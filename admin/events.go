package admin

import "net/http"

type eventTypesView struct {
	Items []EventType `json:"items"`
	Total int         `json:"total"`
}

func (a *API) listEventTypes(w http.ResponseWriter, r *http.Request) error {
	items := a.catalog.Items()
	writeJSON(w, http.StatusOK, eventTypesView{Items: items, Total: len(items)})
	return nil
}
