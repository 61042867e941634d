"""Alerts out of ouie into existing control rooms (CAP 1.2, ONVIF events, Milestone, generic
webhooks, Home Assistant) and cameras' own audio events in. See docs/integrations.md."""
