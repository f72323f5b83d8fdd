package daemon

import (
	"io"
	"net/http"
)

// metrics is the gateway's Prometheus exposition text.
func (h *harness) metrics() string {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.api+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+h.reader)
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}
