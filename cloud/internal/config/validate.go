package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Accepted values of the enumerated fields.
var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"json", "text"}
)

type validator struct{ errs Errors }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) oneOf(path, val string, allowed []string) {
	if slices.Contains(allowed, val) {
		return
	}
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = strconv.Quote(a)
	}
	v.add(path, "%q is not one of %s", val, strings.Join(q, ", "))
}

func (v *validator) intIn(path string, x, lo, hi int) {
	if x < lo || x > hi {
		v.add(path, "%d is out of range [%d, %d]", x, lo, hi)
	}
}

func (v *validator) durIn(path string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.add(path, "%s is out of range [%s, %s]", d, lo, hi)
	}
}

func (v *validator) sizeIn(path string, b, lo, hi ByteSize) {
	if b < lo || b > hi {
		v.add(path, "%s is out of range [%s, %s]", b, lo, hi)
	}
}

// Validate checks every value and returns Errors listing each problem
// with its key path and the bad value quoted, or nil. It reads no file.
func (c *Config) Validate() error {
	v := &validator{}
	c.validate(v)
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

func (c *Config) validate(v *validator) {
	s := c.Server
	if _, port, err := net.SplitHostPort(s.Listen); err != nil {
		v.add("server.listen", "%q is not host:port (%v)", s.Listen, err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add("server.listen", "%q: port %q is not a number in [0, 65535]", s.Listen, port)
	}
	v.durIn("server.read_header_timeout", s.ReadHeaderTimeout, 100*time.Millisecond, time.Hour)
	v.durIn("server.read_timeout", s.ReadTimeout, 100*time.Millisecond, time.Hour)
	v.durIn("server.write_timeout", s.WriteTimeout, 100*time.Millisecond, time.Hour)
	v.durIn("server.idle_timeout", s.IdleTimeout, time.Second, 24*time.Hour)
	v.durIn("server.request_timeout", s.RequestTimeout, 100*time.Millisecond, time.Hour)
	v.durIn("server.shutdown_timeout", s.ShutdownTimeout, 0, time.Hour)
	v.sizeIn("server.max_body_bytes", s.MaxBodyBytes, 4*MiB, 64*MiB)
	if (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		v.add("server.tls", "cert_file and key_file must be set together (cert_file %q, key_file %q)", s.TLS.CertFile, s.TLS.KeyFile)
	}

	d := c.Database
	switch u := strings.TrimSpace(d.URL.Reveal()); {
	case u == "":
		v.add("database.url", "is required (set it in %s, or in the file)", envName("database.url"))
	case !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") && !strings.Contains(u, "="):
		// Never quote the value: it may hold a password.
		v.add("database.url", "is not a postgres:// URL or a key=value DSN")
	}
	v.intIn("database.max_conns", d.MaxConns, 1, 10_000)
	v.intIn("database.min_conns", d.MinConns, 0, d.MaxConns)
	v.durIn("database.connect_timeout", d.ConnectTimeout, 100*time.Millisecond, 10*time.Minute)

	a := c.Auth
	if !(a.RateLimit > 0 && a.RateLimit <= 1e6) {
		v.add("auth.rate_limit", "%v is out of range (0, 1000000] requests per second", a.RateLimit)
	}
	v.intIn("auth.rate_burst", a.RateBurst, 1, 1_000_000)
	v.intIn("auth.max_limiters", a.MaxLimiters, 100, 10_000_000)
	v.durIn("auth.enrollment_ttl", a.EnrollmentTTL, time.Minute, 90*24*time.Hour)

	v.intIn("agents.max_batch_items", c.Agents.MaxBatchItems, 1000, 10_000)
	v.durIn("agents.checkin_interval", c.Agents.CheckinInterval, 10*time.Second, 24*time.Hour)

	v.oneOf("log.level", c.Log.Level, LogLevels)
	v.oneOf("log.format", c.Log.Format, LogFormats)
}
