package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Record headers of an MQTT message in a mapped stream. User properties
// are headers under their own names.
const (
	HeaderQoS             = "mqtt-qos"
	HeaderRetain          = "mqtt-retain"
	HeaderContentType     = "mqtt-content-type"
	HeaderResponseTopic   = "mqtt-response-topic"
	HeaderCorrelationData = "mqtt-correlation-data"
	HeaderPayloadFormat   = "mqtt-payload-format"
	HeaderExpiresMs       = "mqtt-expires-ms"
)

// mappings is the tenant's stream mappings as the watch last saw them and
// one producer per mapped stream.
type mappings struct {
	mu        sync.Mutex
	byName    map[string]*brokerpb.StreamMapping
	producers map[string]*streamclient.Producer
}

func newMappings() *mappings {
	return &mappings{byName: map[string]*brokerpb.StreamMapping{}, producers: map[string]*streamclient.Producer{}}
}

func (ms *mappings) replace(list []*brokerpb.StreamMapping) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.byName = map[string]*brokerpb.StreamMapping{}
	for _, m := range list {
		ms.byName[m.GetName()] = m
	}
}

func (ms *mappings) put(m *brokerpb.StreamMapping) {
	ms.mu.Lock()
	ms.byName[m.GetName()] = m
	ms.mu.Unlock()
}

func (ms *mappings) del(name string) {
	ms.mu.Lock()
	delete(ms.byName, name)
	ms.mu.Unlock()
}

// streamsFor lists the streams whose mapping matches topic.
func (ms *mappings) streamsFor(topic string) []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, m := range ms.byName {
		if !seen[m.GetStream()] && packets.MatchTopic(m.GetMqttFilter(), topic) {
			seen[m.GetStream()] = true
			out = append(out, m.GetStream())
		}
	}
	return out
}

// MappedFilters returns the MQTT filters mapped to stream (none: the stream
// is not mapped).
func (c *Cluster) MappedFilters(stream string) []string {
	ms := c.mappings
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var out []string
	for _, m := range ms.byName {
		if m.GetStream() == stream {
			out = append(out, m.GetMqttFilter())
		}
	}
	return out
}

func (c *Cluster) decodeMapping(kv *placementpb.KeyValue) *brokerpb.StreamMapping {
	m := &brokerpb.StreamMapping{}
	if err := proto.Unmarshal(kv.GetValue(), m); err != nil || m.GetStream() == "" ||
		packets.ValidateTopicFilter(m.GetMqttFilter()) != nil {
		c.log.Warn().Str("key", kv.GetKey()).Msg("skipping a stream mapping that does not decode")
		return nil
	}
	// The key names the mapping (a delete event carries only the key).
	m.Name = strings.TrimPrefix(kv.GetKey(), c.prefix("mappings"))
	return m
}

// producer returns the producer of a mapped stream, opening it once.
func (c *Cluster) mappedProducer(ctx context.Context, stream string) (*streamclient.Producer, error) {
	ms := c.mappings
	ms.mu.Lock()
	p := ms.producers[stream]
	ms.mu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := c.opts.Streams.NewProducer(ctx, stream, streamclient.ProducerOptions{})
	if err != nil {
		return nil, err
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if q := ms.producers[stream]; q != nil {
		_ = p.Close(ctx)
		return q, nil
	}
	ms.producers[stream] = p
	return p, nil
}

// AppendMapped implements core.Cluster: m goes to every stream whose
// mapping matches its topic, keyed by topic so one topic keeps its order.
func (c *Cluster) AppendMapped(ctx context.Context, m *core.Message) error {
	for _, stream := range c.mappings.streamsFor(m.Topic) {
		p, err := c.mappedProducer(ctx, stream)
		if err != nil {
			return fmt.Errorf("mapped stream %q: %w", stream, err)
		}
		if _, err := p.Send(ctx, []byte(m.Topic), []recordbatch.Record{MessageRecord(m)}); err != nil {
			return fmt.Errorf("mapped stream %q: %w", stream, err)
		}
		c.stats.mapped.Add(1)
	}
	return nil
}

// MessageRecord is an MQTT message as a record of a mapped stream.
func MessageRecord(m *core.Message) recordbatch.Record {
	r := recordbatch.Record{TimestampMs: time.Now().UnixMilli(), Key: []byte(m.Topic), Value: m.Payload}
	add := func(k, v string) { r.Headers = append(r.Headers, recordbatch.RecordHeader{Key: k, Value: []byte(v)}) }
	add(HeaderQoS, strconv.Itoa(int(m.QoS)))
	if m.Retain {
		add(HeaderRetain, "1")
	}
	if m.ContentType != "" {
		add(HeaderContentType, m.ContentType)
	}
	if m.ResponseTopic != "" {
		add(HeaderResponseTopic, m.ResponseTopic)
	}
	if m.CorrelationData != nil {
		r.Headers = append(r.Headers, recordbatch.RecordHeader{Key: HeaderCorrelationData, Value: m.CorrelationData})
	}
	if m.HasPayloadFormat {
		add(HeaderPayloadFormat, strconv.Itoa(int(m.PayloadFormat)))
	}
	if !m.Expires.IsZero() {
		add(HeaderExpiresMs, strconv.FormatInt(m.Expires.UnixMilli(), 10))
	}
	for _, u := range m.User {
		add(u.Key, u.Value)
	}
	return r
}

// RecordMessage is the MQTT message of a record of a mapped stream: the
// topic is the key; the QoS is the mqtt-qos header's, else defaultQoS;
// headers that are not MQTT's become user properties. ok is false for a
// record whose key is not a valid MQTT topic name.
func RecordMessage(r recordbatch.Record, defaultQoS byte) (*core.Message, bool) {
	topic := string(r.Key)
	if packets.ValidateTopicName(topic) != nil || !utf8.ValidString(topic) || strings.ContainsRune(topic, 0) {
		return nil, false
	}
	m := &core.Message{Topic: topic, Payload: r.Value, QoS: defaultQoS}
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case HeaderQoS:
			if q, err := strconv.Atoi(v); err == nil && q >= 0 && q <= 2 {
				m.QoS = byte(q)
			}
		case HeaderRetain:
			// A record replayed into MQTT is live traffic, not a retained
			// message.
		case HeaderContentType:
			m.ContentType = v
		case HeaderResponseTopic:
			m.ResponseTopic = v
		case HeaderCorrelationData:
			m.CorrelationData = h.Value
		case HeaderPayloadFormat:
			if f, err := strconv.Atoi(v); err == nil && (f == 0 || f == 1) {
				m.HasPayloadFormat, m.PayloadFormat = true, byte(f)
			}
		case HeaderExpiresMs:
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
				m.Expires = time.UnixMilli(ms)
			}
		default:
			m.User = append(m.User, core.UserProperty{Key: h.Key, Value: v})
		}
	}
	return m, true
}

// PublishRecords delivers records another protocol produced to a mapped
// stream to the MQTT subscribers of the topics in their keys (when the
// key matches one of the stream's mapping filters). Each message is kept
// like an MQTT publish of its QoS; it is not appended to the mapped
// streams again.
func (c *Cluster) PublishRecords(ctx context.Context, stream string, recs []recordbatch.Record) error {
	filters := c.MappedFilters(stream)
	if len(filters) == 0 {
		return nil
	}
	for _, r := range recs {
		m, ok := RecordMessage(r, 1)
		if !ok {
			continue
		}
		matched := false
		for _, f := range filters {
			if packets.MatchTopic(f, m.Topic) {
				matched = true
				break
			}
		}
		if !matched {
			continue
		}
		m.FromStream = true
		if _, err := c.core.Publish(ctx, m); err != nil {
			return err
		}
	}
	return nil
}
