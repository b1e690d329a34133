// Package tcp is the protorun adapter that checks a TCP port accepts
// connections: it resolves the host, connects, and closes the connection.
//
// Parameters (the step's with:):
//
//	address  Required. "host:port" to connect to; host is a name or an IP
//	         address ("[::1]:443" for IPv6), port a number or a service name.
//	timeout  Optional. Default is "5s". How long resolving and connecting
//	         together may take.
//
// Outcomes: Passed when a connection is made. Failed when the host does not
// resolve, the connection is refused or unreachable, or the timeout passes
// first; the message names the cause. When the step's context ends first,
// Run returns its error promptly.
//
// Measurements:
//
//	address     the address as given
//	resolved    the IP address and port connected to (or tried last)
//	dns_ms      time to resolve the host (0 for an IP address)
//	connect_ms  time to connect
//	reachable   whether a connection was made
//
// The adapter is idempotent: connecting twice does no harm.
package tcp

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/protorun/protorun/adapters"
	"github.com/protorun/protorun/adapters/internal/neterr"
	"github.com/protorun/protorun/adapters/internal/param"
)

func init() {
	adapters.Register("tcp", func() adapters.Adapter { return New() })
}

//go:embed schema.json
var schema []byte

// DefaultTimeout is the default of the timeout parameter.
const DefaultTimeout = 5 * time.Second

// Adapter checks that a TCP address accepts connections. Its zero value is
// ready to use.
type Adapter struct {
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// New returns an Adapter.
func New() *Adapter { return &Adapter{} }

type config struct {
	address string
	timeout time.Duration
}

func parse(params map[string]any, lenient bool) (config, *param.Params) {
	p := param.New(params, lenient)
	p.Allow("address", "timeout")
	c := config{
		address: p.Required("address"),
		timeout: p.Duration("timeout", DefaultTimeout),
	}
	if c.address != "" && !(lenient && param.HasPlaceholder(c.address)) {
		if _, _, err := splitAddress(c.address); err != nil {
			p.Fail("address", "%v", err)
		}
	}
	return c, p
}

func splitAddress(addr string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("must be host:port, not %q", addr)
	}
	if host == "" || port == "" {
		return "", "", fmt.Errorf("must be host:port with both parts, not %q", addr)
	}
	return host, port, nil
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
	return "checks that a TCP host:port accepts connections (resolve, connect, close)"
}

// Idempotent implements adapters.Idempotenter: connecting is harmless.
func (a *Adapter) Idempotent(map[string]any) bool { return true }

// Effect implements adapters.Effecter: connecting and closing only reads.
func (a *Adapter) Effect(map[string]any) adapters.Effect { return adapters.ReadOnly }

// Run implements adapters.Adapter.
func (a *Adapter) Run(ctx context.Context, req *adapters.Request) (*adapters.Result, error) {
	if req == nil {
		return nil, fmt.Errorf("tcp: %w: nil request", adapters.ErrBadParams)
	}
	c, p := parse(req.Params, false)
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("tcp: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tcp %s: %w", c.address, err)
	}
	host, port, _ := splitAddress(c.address)

	tctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	m := map[string]any{"address": c.address, "dns_ms": 0.0, "connect_ms": 0.0, "reachable": false}
	res := &adapters.Result{Status: adapters.Failed, Measurements: m}

	// fail reports err as Failed, or returns the step's context error when
	// that context ended.
	fail := func(what string, err error) (*adapters.Result, error) {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tcp %s: %w", c.address, ctx.Err())
		}
		res.Message = fmt.Sprintf("%s %s: %s", what, c.address, neterr.Cause(err, c.timeout))
		return res, nil
	}

	resolver := a.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	start := time.Now()
	portNum, err := resolver.LookupPort(tctx, "tcp", port)
	if err != nil {
		return fail("cannot resolve port of", err)
	}
	var ips []net.IP
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil {
		ips = []net.IP{ip}
	} else {
		addrs, err := resolver.LookupIPAddr(tctx, host)
		m["dns_ms"] = param.Millis(time.Since(start))
		if err != nil {
			return fail("cannot resolve", err)
		}
		for _, ad := range addrs {
			ips = append(ips, ad.IP)
		}
		if len(ips) == 0 {
			return fail("cannot resolve", errors.New("no addresses"))
		}
	}

	var d net.Dialer
	var lastErr error
	connStart := time.Now()
	for _, ip := range ips {
		target := net.JoinHostPort(ip.String(), fmt.Sprint(portNum))
		m["resolved"] = target
		conn, err := d.DialContext(tctx, "tcp", target)
		if err != nil {
			lastErr = err
			if tctx.Err() != nil {
				break
			}
			continue
		}
		m["connect_ms"] = param.Millis(time.Since(connStart))
		m["reachable"] = true
		_ = conn.Close()
		res.Status = adapters.Passed
		res.Message = fmt.Sprintf("connected to %s (%s) in %.1fms", c.address, target, m["connect_ms"])
		return res, nil
	}
	m["connect_ms"] = param.Millis(time.Since(connStart))
	return fail("cannot connect to", lastErr)
}

var (
	_ adapters.Adapter        = (*Adapter)(nil)
	_ adapters.ParamValidator = (*Adapter)(nil)
	_ adapters.ParamSchemer   = (*Adapter)(nil)
	_ adapters.Describer      = (*Adapter)(nil)
	_ adapters.Idempotenter   = (*Adapter)(nil)
	_ adapters.Effecter       = (*Adapter)(nil)
)
