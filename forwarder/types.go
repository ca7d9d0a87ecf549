package forwarder

import (
	"github.com/nightjar-sec/nightjar/outputs"
	"github.com/nightjar-sec/nightjar/outputs/datadog"
	"github.com/nightjar-sec/nightjar/outputs/lambda"
	"github.com/nightjar-sec/nightjar/outputs/opsgenie"
	"github.com/nightjar-sec/nightjar/outputs/rocketchat"
	"github.com/nightjar-sec/nightjar/outputs/slack"
	"github.com/nightjar-sec/nightjar/outputs/smtp"
	"github.com/nightjar-sec/nightjar/outputs/webhook"
)

// OutputTypes are the destinations the sidekick knows: each one's name is a
// top-level configuration key and environment prefix (slack.webhookurl,
// SLACK_WEBHOOKURL) and a type for named instances under outputs:. Add one
// line per destination.
var OutputTypes = []outputs.Type{
	webhook.Type,
	slack.Type,
	rocketchat.Type,
	opsgenie.Type,
	datadog.Type,
	lambda.Type,
	smtp.Type,
}
