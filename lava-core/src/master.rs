//! The master state machine: worker sessions, START/CANCEL re-sends, END/END_OK, STATUS after a restart.
