// Package notify is the protorun adapter that posts a message to a chat
// webhook: Slack incoming webhooks and the many services that accept the same
// payload (Mattermost, Rocket.Chat, Discord's /slack endpoint, …).
//
// Parameters (the step's with:):
//
//	url       Required. The webhook URL (http or https). It often holds a
//	          token: messages name only its scheme and host.
//	text      Required. The message text.
//	channel   Optional. Default is none (the webhook's own channel).
//	username  Optional. Default is none (the webhook's own name).
//	timeout   Optional. Default is "5s". How long the POST may take.
//
// The request is a POST of the JSON object {"text": …, "channel": …,
// "username": …} (empty fields left out) with Content-Type
// application/json.
//
// Outcomes: Passed when the webhook answers 2xx. Failed when it answers
// anything else (the message quotes the start of its body), including a
// redirect, which is never followed (the POST is not sent again; the
// message names the scheme and host of its Location), or cannot be
// reached (measurements.reachable is false and the message names the
// cause). A notification never makes Run return an error, except when the
// step's context ends first.
//
// Measurements:
//
//	status_code  the HTTP status (0 when unreachable)
//	latency_ms   time to the answer
//	reachable    whether the webhook answered
//
// The adapter is not idempotent: posting twice posts two messages.
package notify

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/internal/neterr"
	"github.com/protorun/protorun/adapters/internal/param"
)

func init() {
	adapters.Register("notify", func() adapters.Adapter { return New() })
}

//go:embed schema.json
var schema []byte

// DefaultTimeout is the default of the timeout parameter.
const DefaultTimeout = 5 * time.Second

// Adapter posts messages to chat webhooks. Use New to make one.
type Adapter struct {
	client *http.Client
}

// New returns an Adapter with its own connection pool.
func New() *Adapter {
	t := http.DefaultTransport.(*http.Transport).Clone()
	return &Adapter{client: &http.Client{Transport: t, CheckRedirect: noRedirect}}
}

// noRedirect never follows a redirect: the message is a POST, and a 307 or
// 308 would send it again to wherever the answer points (another host, a
// protected one included) while the engine judged the step by the URL the
// protocol wrote. The redirect answer is the result, and the notification
// fails naming where it was sent.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

type config struct {
	url, text, channel, username string
	timeout                      time.Duration
}

func parse(params map[string]any, lenient bool) (config, *param.Params) {
	p := param.New(params, lenient)
	p.Allow("url", "text", "channel", "username", "timeout")
	c := config{
		url:      p.URL("url"),
		text:     p.Required("text"),
		channel:  p.String("channel", ""),
		username: p.String("username", ""),
		timeout:  p.Duration("timeout", DefaultTimeout),
	}
	return c, p
}

// ValidateParams implements adapters.ParamValidator.
func (a *Adapter) ValidateParams(params map[string]any) []*adapters.ParamError {
	_, p := parse(params, true)
	return p.Errors()
}

// ParamSchema implements adapters.ParamSchemer.
func (a *Adapter) ParamSchema() []byte { return schema }

// Describe implements adapters.Describer.
func (a *Adapter) Describe() string {
	return "posts a message to a Slack-compatible chat webhook"
}

// Idempotent implements adapters.Idempotenter: posting twice posts twice.
func (a *Adapter) Idempotent(map[string]any) bool { return false }

// Effect implements adapters.Effecter: the adapter POSTs a message and
// cannot tell what the receiver does with it (MayMutate): a chat webhook
// only shows it, an admin API might act on it. A webhook that shares a
// host with a protected environment's binding needs effect: read-only
// with an effect_reason.
func (a *Adapter) Effect(map[string]any) adapters.Effect { return adapters.MayMutate }

// Close implements adapters.Closer: it closes idle connections.
func (a *Adapter) Close() error {
	a.client.CloseIdleConnections()
	return nil
}

// Run implements adapters.Adapter.
func (a *Adapter) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	if req == nil {
		return nil, fmt.Errorf("notify: %w: nil request", adapters.ErrBadParams)
	}
	c, p := parse(req.Params, false)
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	where := c.url
	if u, err := url.Parse(c.url); err == nil {
		where = u.Scheme + "://" + u.Host
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("notify %s: %w", where, err)
	}

	body, err := json.Marshal(struct {
		Text     string `json:"text"`
		Channel  string `json:"channel,omitempty"`
		Username string `json:"username,omitempty"`
	}{c.text, c.channel, c.username})
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(rctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("notify: %w: url: %v", adapters.ErrBadParams, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("User-Agent", "protorun")

	m := map[string]any{"status_code": 0, "latency_ms": 0.0, "reachable": false}
	res := &adapters.Result{Status: adapters.Failed, Measurements: m}
	start := time.Now()
	resp, err := a.client.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("notify %s: %w", where, ctx.Err())
		}
		m["latency_ms"] = param.Millis(time.Since(start))
		res.Message = fmt.Sprintf("webhook %s unreachable: %s", where, neterr.Cause(err, c.timeout))
		return res, nil
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	m["latency_ms"] = param.Millis(time.Since(start))
	m["status_code"] = resp.StatusCode
	m["reachable"] = true
	if resp.StatusCode/100 == 2 {
		res.Status = adapters.Passed
		res.Message = fmt.Sprintf("posted to %s (HTTP %d)", where, resp.StatusCode)
		return res, nil
	}
	if resp.StatusCode/100 == 3 {
		res.Message = fmt.Sprintf("webhook %s answered HTTP %d, a redirect; the message was not sent again", where, resp.StatusCode)
		if loc, err := resp.Location(); err == nil {
			// Only scheme and host: the rest may hold a token, as the
			// webhook URL's own path often does.
			res.Message += " to " + loc.Scheme + "://" + loc.Host + " (set url to the webhook's final address)"
		} else {
			res.Message += " (the answer has no usable Location)"
		}
		return res, nil
	}
	excerpt := param.Excerpt(answer, 200)
	res.Message = fmt.Sprintf("webhook %s answered HTTP %d", where, resp.StatusCode)
	if excerpt != "" {
		res.Message += ": " + excerpt
	}
	return res, nil
}

var (
	_ adapters.Adapter        = (*Adapter)(nil)
	_ adapters.ParamValidator = (*Adapter)(nil)
	_ adapters.ParamSchemer   = (*Adapter)(nil)
	_ adapters.Describer      = (*Adapter)(nil)
	_ adapters.Idempotenter   = (*Adapter)(nil)
	_ adapters.Closer         = (*Adapter)(nil)
	_ adapters.Effecter       = (*Adapter)(nil)
)
