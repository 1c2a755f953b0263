package testkit

import (
	"io"
	"net/http"
	"strings"
)

// PostOnce sends one POST that no layer of the client may send again (its
// body has no GetBody) and reads the whole answer: a body cut short is an
// error, as for any client that checks. Such a client cannot hide a loss.
func PostOnce(c *http.Client, url, body string) (status int, answer string, err error) {
	req, err := http.NewRequest("POST", url, io.NopCloser(strings.NewReader(body)))
	if err != nil {
		return 0, "", err
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
