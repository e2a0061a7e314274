"""工单: intake, routing record, deadlines and the timeline."""
