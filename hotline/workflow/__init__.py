"""承办单位办理流程: accept, reply, return and its review, extension, lead/assist, multi-level
dispatch, merging, supervision orders. Every action: scope check in one place, one transaction,
one timeline event."""
