//! A Redis connection that reconnects: commands retry, with backoff, while Redis is
//! unreachable, so a run survives Redis restarting.

use std::time::Duration;

use redis::{Client, Connection, RedisError, RedisResult};

use super::DistributedError;

/// How long one read may block; blocking commands use a shorter `BLOCK`.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens a client and checks, once, that Redis answers.
pub(crate) fn open(url: &str) -> Result<Client, DistributedError> {
    let client = Client::open(url).map_err(|source| DistributedError::BadUrl {
        url: url.to_owned(),
        source,
    })?;
    let mut conn = connect(&client).map_err(|source| DistributedError::Unreachable {
        url: url.to_owned(),
        source,
    })?;
    redis::cmd("PING")
        .query::<String>(&mut conn)
        .map_err(|source| DistributedError::Unreachable {
            url: url.to_owned(),
            source,
        })?;
    Ok(client)
}

fn connect(client: &Client) -> RedisResult<Connection> {
    let conn = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    conn.set_read_timeout(Some(READ_TIMEOUT))?;
    conn.set_write_timeout(Some(READ_TIMEOUT))?;
    Ok(conn)
}

/// Whether an error means "Redis is away for now" rather than "this command is wrong".
pub(crate) fn is_transient(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.kind() == redis::ErrorKind::BusyLoadingError
        || e.code() == Some("LOADING")
        || e.code() == Some("MASTERDOWN")
}

/// One connection, reopened on demand.
pub(crate) struct Conn {
    client: Client,
    conn: Option<Connection>,
    /// Whether the last failure was reported (so an outage is reported once).
    reported: bool,
    what: &'static str,
}

impl Conn {
    pub(crate) fn new(client: Client, what: &'static str) -> Conn {
        Conn {
            client,
            conn: None,
            reported: false,
            what,
        }
    }

    /// Runs `f` on the connection, reconnecting and retrying while Redis is away, until
    /// `f` succeeds, fails for another reason, or `give_up` says so.
    pub(crate) fn run<T>(
        &mut self,
        give_up: &dyn Fn() -> bool,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let mut backoff = Duration::from_millis(50);
        loop {
            let attempt = match &mut self.conn {
                Some(conn) => f(conn),
                None => connect(&self.client).and_then(|conn| f(self.conn.insert(conn))),
            };
            match attempt {
                Ok(value) => {
                    if self.reported {
                        tracing::warn!("{}: Redis is back", self.what);
                        self.reported = false;
                    }
                    return Ok(value);
                }
                Err(e) if is_transient(&e) && !give_up() => {
                    if !self.reported {
                        tracing::warn!("{}: Redis unreachable ({e}); retrying", self.what);
                        self.reported = true;
                    }
                    self.conn = None;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    if is_transient(&e) {
                        self.conn = None;
                    }
                    return Err(e);
                }
            }
        }
    }
}
