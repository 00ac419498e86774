package cluster

import (
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
)

// toProto is m as the cluster stores and forwards it.
func toProto(m *core.Message) *brokerpb.MqttMessage {
	if m == nil {
		return nil
	}
	pm := &brokerpb.MqttMessage{Topic: m.Topic, Payload: m.Payload, Qos: uint32(m.QoS), Retain: m.Retain,
		From: m.From, ContentType: m.ContentType, ResponseTopic: m.ResponseTopic, CorrelationData: m.CorrelationData}
	if !m.Expires.IsZero() {
		pm.ExpiresMs = m.Expires.UnixMilli()
	}
	if m.HasPayloadFormat {
		f := uint32(m.PayloadFormat)
		pm.PayloadFormat = &f
	}
	for _, u := range m.User {
		pm.UserProperties = append(pm.UserProperties, &brokerpb.UserProperty{Key: u.Key, Value: u.Value})
	}
	return pm
}

// fromProto is the core message of pm (nil for nil).
func fromProto(pm *brokerpb.MqttMessage) *core.Message {
	if pm == nil {
		return nil
	}
	m := &core.Message{Topic: pm.GetTopic(), Payload: pm.GetPayload(), QoS: byte(min(pm.GetQos(), 2)), Retain: pm.GetRetain(),
		From: pm.GetFrom(), ContentType: pm.GetContentType(), ResponseTopic: pm.GetResponseTopic(),
		CorrelationData: pm.GetCorrelationData()}
	if ms := pm.GetExpiresMs(); ms > 0 {
		m.Expires = time.UnixMilli(ms)
	}
	if pm.PayloadFormat != nil {
		m.HasPayloadFormat, m.PayloadFormat = true, byte(pm.GetPayloadFormat())
	}
	for _, u := range pm.GetUserProperties() {
		m.User = append(m.User, core.UserProperty{Key: u.GetKey(), Value: u.GetValue()})
	}
	return m
}

func subToProto(s core.Subscription) *brokerpb.Subscription {
	return &brokerpb.Subscription{Filter: s.Filter, Qos: uint32(s.QoS), NoLocal: s.NoLocal,
		RetainAsPublished: s.RetainAsPublished, RetainHandling: uint32(s.RetainHandling), Id: s.ID}
}

// subFromProto is the subscription of ps; ok is false for a filter that
// does not parse (a record written by a newer broker).
func subFromProto(ps *brokerpb.Subscription) (core.Subscription, bool) {
	g, tf, err := packets.ParseShared(ps.GetFilter())
	if err != nil {
		return core.Subscription{}, false
	}
	return core.Subscription{Filter: ps.GetFilter(), Group: g, TopicFilter: tf, QoS: byte(min(ps.GetQos(), 2)),
		NoLocal: ps.GetNoLocal(), RetainAsPublished: ps.GetRetainAsPublished(),
		RetainHandling: byte(min(ps.GetRetainHandling(), 2)), ID: ps.GetId()}, true
}
