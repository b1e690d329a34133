package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/notify"
	"github.com/protorun/protorun/engine"
)

// notifyURLEnv configures the default notifier's webhook when
// --notify-url is not given. It is the variable Protocol 6 reads for its
// own notify_url, so one setting routes both.
const notifyURLEnv = "PROTORUN_NOTIFY_URL"

// notifyFlag adds --notify-url to a command that drives a run.
func (c *common) notifyFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.notifyURL, "notify-url", "", "Slack-compatible webhook told of failures the protocol does not route itself (default $"+notifyURLEnv+"; always also printed to stderr)")
}

// notifier is the default notifier of the commands that drive a run: every
// failure the protocol does not route itself (a gate without notify:, a
// guideline step that failed, a rollback that failed) is printed to w
// (stderr), and posted to the webhook when one is configured.
func (c *common) notifier(w io.Writer) engine.Notifier {
	hook := c.notifyURL
	if hook == "" {
		hook = os.Getenv(notifyURLEnv)
	}
	return &cliNotifier{w: w, url: hook}
}

// cliNotifier prints notifications, and posts them to a webhook.
type cliNotifier struct {
	w   io.Writer
	url string // empty: print only

	once sync.Once
	post *notify.Adapter
}

// Notify implements engine.Notifier.
func (n *cliNotifier) Notify(ctx context.Context, x engine.Notification) error {
	text := fmt.Sprintf("[protorun] %s, run %s: %s", x.Title, x.Run, x.Message)
	where := ""
	switch {
	case n.url == "":
	case x.DryRun:
		where = " (dry run: not posted to the webhook)"
	default:
		msg, err := n.send(ctx, text)
		if err != nil {
			fmt.Fprintf(n.w, "protorun: ⚠ NOTIFY %s\nprotorun:   not delivered: %v\n", text, err)
			return err
		}
		where = " (" + msg + ")"
	}
	fmt.Fprintf(n.w, "protorun: ⚠ NOTIFY %s%s\n", text, where)
	return nil
}

// send posts text to the webhook with the notify adapter: what it says of
// the delivery, or why it failed (naming the webhook's host only: its URL
// often holds a token).
func (n *cliNotifier) send(ctx context.Context, text string) (string, error) {
	n.once.Do(func() { n.post = notify.New() })
	ctx, cancel := context.WithTimeout(ctx, 2*notify.DefaultTimeout)
	defer cancel()
	res, err := n.post.Run(ctx, &adapters.Request{Params: map[string]any{"url": n.url, "text": text}, Step: "notify", Attempt: 1})
	if err != nil {
		return "", fmt.Errorf("webhook %s: %s", hostOf(n.url), strings.ReplaceAll(err.Error(), n.url, hostOf(n.url)))
	}
	if res.Status != adapters.Passed {
		return "", fmt.Errorf("%s", res.Message)
	}
	return res.Message, nil
}

// hostOf names a webhook without its path and query.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(the webhook)"
	}
	return u.Scheme + "://" + u.Host
}
