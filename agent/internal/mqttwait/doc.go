// Package mqttwait waits for a paho MQTT token (a connect, subscribe or
// publish) the way the rig agent's MQTT clients need it: until the token
// completes, a timeout passes or the caller's context is done, whichever
// comes first, so that neither a silent broker nor a stop leaves a
// goroutine blocked in Token.Wait.
//
//	tok := client.Publish(topic, 1, false, payload)
//	if err := mqttwait.Token(ctx, tok, 10*time.Second); err != nil {
//		// tok's error, ctx.Err() or an error wrapping ErrTimeout
//	}
//
// A token that has completed counts even if the context ended or the
// timeout passed at the same moment: an acknowledged publish is never
// reported as cancelled.
package mqttwait
