package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/internal/passkeyclient"
	"github.com/keyward/keyward/internal/testenv"
)

// postForm posts a same-origin form as the browser would.
func postForm(t *testing.T, b *passkeyclient.Client, path, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.Base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.Base)
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func ctxWith(ctx context.Context, rp *testenv.RP) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, rp.HTTP)
}
