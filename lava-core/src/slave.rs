//! The slave state machine: HELLO/HELLO_RETRY, PING, the job table, END re-sends and cancel escalation.
