package mqttwait

import (
	"context"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// ErrTimeout is wrapped by the error Token returns when the broker did not
// answer within the timeout.
var ErrTimeout = errors.New("no answer from the MQTT broker")

// Token waits for tok until it completes (it returns tok's error, nil on
// success), timeout passed (an error wrapping ErrTimeout) or ctx is done
// (ctx.Err()). When tok has completed it returns tok's error even if ctx
// is done or the timeout passed as well. A nil tok or a timeout that is not
// positive is an error, not a wait.
func Token(ctx context.Context, tok mqtt.Token, timeout time.Duration) error {
	if tok == nil {
		return errors.New("mqttwait: no MQTT token to wait for (nil)")
	}
	if timeout <= 0 {
		return fmt.Errorf("mqttwait: timeout %s is not positive", timeout)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	var err error
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
		err = fmt.Errorf("%w within %s", ErrTimeout, timeout)
	}
	// select picks at random among ready cases: a token that completed
	// meanwhile wins over the context and the timer.
	select {
	case <-tok.Done():
		return tok.Error()
	default:
		return err
	}
}
