package provision

import (
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestManagementURL(t *testing.T) {
	for _, tc := range []struct {
		amqpURL, given, want, err string
	}{
		{"amqp://admin:pw@broker.internal:5672/", "", "http://broker.internal:15672", ""},
		{"amqps://admin:pw@broker.internal:5671/purepool", "", "https://broker.internal:15671", ""},
		{"amqp://admin:pw@[::1]:5672/", "", "http://[::1]:15672", ""},
		{"amqp://admin:pw@broker:5672/", "https://mgmt.internal:8443/rabbit/", "https://mgmt.internal:8443/rabbit", ""},
		{"amqp://admin:pw@broker:5672/", "broker:15672", "", "want http(s)://host:port"},
		{"amqp://admin:pw@broker:5672/", "http://admin:secret@broker:15672", "", "no credentials here"},
		{"amqp://admin:pw@broker:5672/", "http://broker:15672/?x=1", "", "no query"},
	} {
		uri, err := amqp.ParseURI(tc.amqpURL)
		if err != nil {
			t.Fatal(err)
		}
		got, err := managementURL(tc.given, uri)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("managementURL(%q, %q) = %q, %v; want %q", tc.given, tc.amqpURL, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "secret")):
			t.Errorf("managementURL(%q) error %v; want one saying %q, without the password", tc.given, err, tc.err)
		}
	}
}
