package probe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxBody bounds how much of the answer is read and reported.
const maxBody = 512

// Check GETs url with client and returns the (trimmed, bounded) body when
// the status is 200 OK. Any other status, or no answer before ctx ends, is
// an error that carries the status and body so the container log says why.
func Check(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("request %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", fmt.Errorf("GET %s: read body: %w", url, err)
	}
	body := strings.TrimSpace(string(b))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return body, nil
}
