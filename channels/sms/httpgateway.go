package sms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// HTTPGateway sends texts through an SMS platform's HTTP API, in the shape
// the common Chinese platforms share: one JSON POST per text, carrying the
// account, the 11-digit mobile, the text and a timestamp, signed with the
// account's secret (HMAC-SHA-256 over the fields joined by "|"); the
// platform answers {"code":"0","msgid":…} when it takes the text, another
// code when it refuses it.
type HTTPGateway struct {
	URL     string
	Account string
	Secret  string
	Client  *http.Client // nil: a client with a 10 s timeout
	Now     func() time.Time
}

// GatewayError is a refusal by the platform (a code other than "0") or
// an HTTP failure (Status set).
type GatewayError struct {
	Status  int    // HTTP status, 0 when the platform answered 200 with a code
	Code    string // the platform's code
	Message string
}

func (e *GatewayError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("sms gateway: HTTP %d %s", e.Status, e.Message)
	}
	return fmt.Sprintf("sms gateway: code %s %s", e.Code, e.Message)
}

// Permanent: the platform refused the text itself (a bad number, a
// blocked word), or the request was malformed (HTTP 4xx but 408 and 429);
// busy, throttled and server errors are worth another try.
func (e *GatewayError) Permanent() bool {
	if e.Status != 0 {
		return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
	}
	switch e.Code {
	case "busy", "throttled", "system_error":
		return false
	}
	return true
}

// GatewaySign is the signature of one request's fields.
func GatewaySign(secret string, fields ...string) string {
	m := hmac.New(sha256.New, []byte(secret))
	for i, f := range fields {
		if i > 0 {
			m.Write([]byte("|"))
		}
		m.Write([]byte(f))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// GatewayRequest is the body of a send.
type GatewayRequest struct {
	Account   string `json:"account"`
	Mobile    string `json:"mobile"`
	Content   string `json:"content"`
	Timestamp string `json:"timestamp"` // Unix seconds
	Sign      string `json:"sign"`
}

// SendText posts one text.
func (g *HTTPGateway) SendText(ctx context.Context, to, text string) error {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	req := GatewayRequest{Account: g.Account, Mobile: National(to), Content: text, Timestamp: strconv.FormatInt(now().Unix(), 10)}
	req.Sign = GatewaySign(g.Secret, req.Account, req.Mobile, req.Content, req.Timestamp)
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, g.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json; charset=utf-8")
	client := g.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	res, err := client.Do(hr)
	if err != nil {
		return err // the network: tried again
	}
	defer func() { _ = res.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return &GatewayError{Status: res.StatusCode, Message: http.StatusText(res.StatusCode)}
	}
	var out struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return &GatewayError{Code: "system_error", Message: "unreadable answer"}
	}
	if out.Code != "0" {
		return &GatewayError{Code: out.Code, Message: out.Message}
	}
	return nil
}
