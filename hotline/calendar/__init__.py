"""The working calendar: statutory holidays and make-up working days stored in PostgreSQL."""
