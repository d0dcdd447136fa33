// Package examplecodec is an example out-of-process codec plugin: the
// decoder of a made-up vendor's text format that the built-in csv codec
// cannot read, served over agent/internal/plugin. The main package in
// cmd/hydrognn-codec-example is what `make build` builds as
// bin/hydrognn-codec-example; a firmware config uses it with
// `codec: plugin:example`.
//
// # Format
//
// One reading per line, fields separated by ';', decimal comma or point,
// the way some European data loggers write:
//
//	sensor;time;value[;seq[;status]]
//	PS1;1772366400125;151,2;17;OK
//	;1772366400135;151,25
//
// sensor may be empty (the topic's only sensor); time is unix milliseconds
// and may be empty (the arrival time); value is a decimal number with ','
// or '.' as the decimal separator (no thousands separators, no NaN or
// infinity); seq is an unsigned integer; status is OK (quality good), WARN
// (uncertain) or FAIL (bad), OK when absent. Lines end in "\n" or "\r\n";
// empty lines and lines starting with '#' are skipped. A payload decodes
// whole or not at all; the error names the line.
package examplecodec
