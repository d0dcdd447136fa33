package ingest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hydrognn/hydrognn/shared/codec"
)

func TestParseSparkplugTopic(t *testing.T) {
	for _, tc := range []struct {
		topic string
		ok    bool
		want  spTopic
	}{
		{"spBv1.0/g/DDATA/n/d", true, spTopic{"g", "DDATA", "n", "d"}},
		{"spBv1.0/g/NDATA/n", true, spTopic{"g", "NDATA", "n", ""}},
		{"spBv1.0/g/NBIRTH/n", true, spTopic{"g", "NBIRTH", "n", ""}},
		{"spBv1.0/g/DDATA/n", false, spTopic{}},
		{"spBv1.0/g/NDATA/n/d", false, spTopic{}},
		{"spBv1.0/g/XDATA/n", false, spTopic{}},
		{"spBv1.0/g/NDATA/+", false, spTopic{}},
		{"spBv1.0//NDATA/n", false, spTopic{}},
		{"spAv1.0/g/NDATA/n", false, spTopic{}},
		{"a/b", false, spTopic{}},
	} {
		got, ok := parseSparkplugTopic(tc.topic)
		assert.Equal(t, tc.ok, ok, tc.topic)
		assert.Equal(t, tc.want, got, tc.topic)
		if ok {
			assert.Equal(t, tc.topic, got.String())
		}
	}
	tp, _ := parseSparkplugTopic("spBv1.0/g/DDATA/n/d")
	assert.Equal(t, []string{"spBv1.0/g/NBIRTH/n", "spBv1.0/g/DBIRTH/n/d"}, tp.birthTopics())
	assert.Equal(t, "g/n", tp.nodeKey())
}

func TestSparkplugSeq(t *testing.T) {
	seq, ok := sparkplugSeq([]byte(spPayload(17)))
	assert.True(t, ok)
	assert.EqualValues(t, 17, seq)
	_, ok = sparkplugSeq([]byte(spPayload(256)))
	assert.False(t, ok, "over 255")
	_, ok = sparkplugSeq(protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 5))
	assert.False(t, ok, "no seq field")
	_, ok = sparkplugSeq([]byte{0xff})
	assert.False(t, ok, "broken tag")
}

// FuzzSparkplugTopic: parsing never panics, and a parsed topic prints back
// to itself.
func FuzzSparkplugTopic(f *testing.F) {
	for _, s := range []string{"spBv1.0/g/DDATA/n/d", "spBv1.0/g/NBIRTH/n", "spBv1.0/g/NDATA/n/x", "spBv1.0///", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		tp, ok := parseSparkplugTopic(topic)
		if !ok {
			return
		}
		if tp.String() != topic {
			t.Fatalf("%q parsed as %+v prints as %q", topic, tp, tp.String())
		}
		for _, b := range tp.birthTopics() {
			if _, ok := parseSparkplugTopic(b); !ok || !strings.Contains(b, "BIRTH") {
				t.Fatalf("birth topic %q of %q does not parse", b, topic)
			}
		}
	})
}

// FuzzSparkplugSeq: reading the seq of any payload never panics, and
// when the codec decodes a payload with metrics, both agree on its seq.
func FuzzSparkplugSeq(f *testing.F) {
	f.Add([]byte(spPayload(3)))
	f.Add([]byte(spPayload(255, spMetric("PS1", 1, 2, 3))))
	f.Add([]byte{0x18})
	f.Fuzz(func(t *testing.T, payload []byte) {
		seq, ok := sparkplugSeq(payload)
		rs, err := codec.SparkplugB{}.Decode(codec.Binding{Now: clock}, payload, nil)
		if err != nil || len(rs) == 0 || !ok {
			return
		}
		if rs[0].Seq != uint64(seq) {
			t.Fatalf("seq %d, codec says %d", seq, rs[0].Seq)
		}
	})
}
