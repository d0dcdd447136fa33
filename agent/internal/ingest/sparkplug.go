package ingest

import (
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Sparkplug B topics: spBv1.0/GROUP/TYPE/NODE[/DEVICE], where TYPE is one
// of NBIRTH, NDEATH, DBIRTH, DDEATH, NDATA, DDATA, NCMD, DCMD, STATE.
const sparkplugNamespace = "spBv1.0"

// spTopic is a parsed Sparkplug B topic.
type spTopic struct {
	Group, Type, Node, Device string
}

// parseSparkplugTopic splits a Sparkplug B topic. It accepts node-level
// types (N*) with exactly four levels and device-level types (D*) with
// exactly five, every level non-empty and free of MQTT wildcards.
func parseSparkplugTopic(topic string) (spTopic, bool) {
	parts := strings.Split(topic, "/")
	if len(parts) < 4 || len(parts) > 5 || parts[0] != sparkplugNamespace {
		return spTopic{}, false
	}
	for _, p := range parts[1:] {
		if p == "" || strings.ContainsAny(p, "+#") {
			return spTopic{}, false
		}
	}
	t := spTopic{Group: parts[1], Type: parts[2], Node: parts[3]}
	switch t.Type {
	case "NBIRTH", "NDEATH", "NDATA", "NCMD":
		if len(parts) != 4 {
			return spTopic{}, false
		}
	case "DBIRTH", "DDEATH", "DDATA", "DCMD":
		if len(parts) != 5 {
			return spTopic{}, false
		}
		t.Device = parts[4]
	default:
		return spTopic{}, false
	}
	return t, true
}

// nodeKey identifies an edge node: GROUP/NODE.
func (t spTopic) nodeKey() string { return t.Group + "/" + t.Node }

// String rebuilds the topic.
func (t spTopic) String() string {
	s := sparkplugNamespace + "/" + t.Group + "/" + t.Type + "/" + t.Node
	if t.Device != "" {
		s += "/" + t.Device
	}
	return s
}

// birthTopics returns the birth topics whose aliases a DATA topic's
// payloads may use: the node's NBIRTH, and for DDATA the device's DBIRTH.
func (t spTopic) birthTopics() []string {
	n := spTopic{Group: t.Group, Type: "NBIRTH", Node: t.Node}
	out := []string{n.String()}
	if t.Type == "DDATA" {
		d := spTopic{Group: t.Group, Type: "DBIRTH", Node: t.Node, Device: t.Device}
		out = append(out, d.String())
	}
	return out
}

// sparkplugSeq returns the seq field (field 3, varint) of a Sparkplug B
// Payload, and whether the payload has one within 0 to 255. As protobuf
// decoders do, the last occurrence wins. It never panics.
func sparkplugSeq(payload []byte) (uint8, bool) {
	const seqField = 3
	var seq uint64
	found := false
	for len(payload) > 0 {
		num, typ, n := protowire.ConsumeTag(payload)
		if n < 0 {
			return 0, false
		}
		payload = payload[n:]
		if num == seqField && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(payload)
			if n < 0 {
				return 0, false
			}
			seq, found = v, true
			payload = payload[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, payload)
		if n < 0 {
			return 0, false
		}
		payload = payload[n:]
	}
	if !found || seq > 255 {
		return 0, false
	}
	return uint8(seq), true
}
