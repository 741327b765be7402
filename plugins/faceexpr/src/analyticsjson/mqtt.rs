// SPDX-License-Identifier: MPL-2.0
//! A minimal, blocking MQTT 3.1.1 publisher over a std `TcpStream`, GStreamer-free.
//!
//! Only what `analyticsjson` needs: CONNECT (clean session, no keep-alive timer), QoS 1 PUBLISH
//! that returns once the broker's PUBACK for it arrived (so a message that `publish` accepted is
//! stored by the broker: nothing is lost on a clean EOS), and DISCONNECT. The packets are encoded
//! and decoded by the `mqtt-protocol` crate.

use std::fmt;
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::Duration;

use mqtt::packet::{
    ConnectPacket, DisconnectPacket, PublishPacketRef, QoSWithPacketIdentifier, VariablePacket,
};
use mqtt::{Decodable, Encodable};

pub use mqtt::TopicName;

/// Why connecting or publishing failed.
#[derive(Debug)]
pub enum MqttError {
    /// The address did not resolve, or no TCP connection could be made to it.
    Connect { address: String, source: io::Error },
    /// The broker answered CONNECT with a refusal.
    Refused { address: String, reason: String },
    /// The topic is not a valid MQTT topic name for publishing (empty, or with `+`/`#`).
    Topic(String),
    /// Reading or writing the socket failed (including a timeout waiting for the broker).
    Io(io::Error),
    /// The broker sent something this publisher does not expect.
    Protocol(String),
}

impl fmt::Display for MqttError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MqttError::Connect { address, source } => {
                write!(f, "cannot connect to MQTT broker at {address}: {source}")
            }
            MqttError::Refused { address, reason } => {
                write!(
                    f,
                    "MQTT broker at {address} refused the connection: {reason}"
                )
            }
            MqttError::Topic(topic) => write!(f, "invalid MQTT topic name {topic:?}"),
            MqttError::Io(e) => write!(f, "MQTT connection failed: {e}"),
            MqttError::Protocol(what) => write!(f, "MQTT protocol error: {what}"),
        }
    }
}

impl std::error::Error for MqttError {}

impl From<io::Error> for MqttError {
    fn from(e: io::Error) -> Self {
        MqttError::Io(e)
    }
}

/// Checks that `topic` can be published to (no wildcards, not empty).
pub fn topic_name(topic: &str) -> Result<TopicName, MqttError> {
    if topic.is_empty() {
        return Err(MqttError::Topic(topic.to_owned()));
    }
    TopicName::new(topic).map_err(|_| MqttError::Topic(topic.to_owned()))
}

/// A connected publisher.
#[derive(Debug)]
pub struct MqttPublisher {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    next_id: u16,
    address: String,
}

impl MqttPublisher {
    /// Connects to `address` (`host:port`) and completes the MQTT handshake; `timeout` bounds the
    /// TCP connect and every wait for the broker.
    pub fn connect(
        address: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<MqttPublisher, MqttError> {
        let connect_error = |source| MqttError::Connect {
            address: address.to_owned(),
            source,
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, "address resolved to nothing");
        let mut stream = None;
        for addr in address.to_socket_addrs().map_err(connect_error)? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or_else(|| connect_error(last))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut publisher = MqttPublisher {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            next_id: 1,
            address: address.to_owned(),
        };

        let mut connect = ConnectPacket::new(client_id);
        connect.set_clean_session(true);
        connect.set_keep_alive(0);
        publisher.send(&connect)?;
        match publisher.receive()? {
            VariablePacket::ConnackPacket(ack) => {
                use mqtt::control::ConnectReturnCode;
                match ack.connect_return_code() {
                    ConnectReturnCode::ConnectionAccepted => Ok(publisher),
                    code => Err(MqttError::Refused {
                        address: address.to_owned(),
                        reason: format!("{code:?}"),
                    }),
                }
            }
            other => Err(MqttError::Protocol(format!(
                "expected CONNACK, got {other:?}"
            ))),
        }
    }

    /// The address this publisher connected to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Publishes `payload` with QoS 1 and waits for the broker's PUBACK.
    pub fn publish(&mut self, topic: &TopicName, payload: &[u8]) -> Result<(), MqttError> {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        self.send(&PublishPacketRef::new(
            topic,
            QoSWithPacketIdentifier::Level1(id),
            payload,
        ))?;
        loop {
            match self.receive()? {
                VariablePacket::PubackPacket(ack) if ack.packet_identifier() == id => return Ok(()),
                // A late acknowledgement of an earlier message, or a keep-alive answer.
                VariablePacket::PubackPacket(_) | VariablePacket::PingrespPacket(_) => {}
                other => {
                    return Err(MqttError::Protocol(format!(
                        "expected PUBACK {id}, got {other:?}"
                    )));
                }
            }
        }
    }

    /// Sends DISCONNECT and closes the connection.
    pub fn disconnect(mut self) -> Result<(), MqttError> {
        self.send(&DisconnectPacket::new())?;
        // The peer may already have closed its side; nothing is left to lose.
        let _ = self.writer.shutdown(Shutdown::Both);
        Ok(())
    }

    fn send<P: Encodable>(&mut self, packet: &P) -> Result<(), MqttError> {
        let mut bytes = Vec::with_capacity(packet.encoded_length() as usize);
        packet.encode(&mut bytes)?;
        self.writer.write_all(&bytes)?;
        Ok(())
    }

    fn receive(&mut self) -> Result<VariablePacket, MqttError> {
        VariablePacket::decode(&mut self.reader).map_err(|e| match e {
            mqtt::packet::VariablePacketError::IoError(io) => MqttError::Io(io),
            other => MqttError::Protocol(other.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    #[test]
    fn topic_names_with_wildcards_are_rejected() {
        assert!(topic_name("faceexpression/cam1").is_ok());
        for bad in ["", "a/+/b", "a/#"] {
            assert!(
                matches!(topic_name(bad), Err(MqttError::Topic(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn connection_refused_names_the_address() {
        // Bind then drop to get a loopback port with (almost certainly) nothing listening.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let address = format!("127.0.0.1:{port}");
        let err = MqttPublisher::connect(&address, "t", Duration::from_secs(2)).unwrap_err();
        assert!(matches!(err, MqttError::Connect { .. }));
        assert!(err.to_string().contains(&address), "{err}");
    }

    /// A fake broker: accepts CONNECT, acknowledges one QoS 1 PUBLISH, expects DISCONNECT.
    #[test]
    fn publish_waits_for_its_puback() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let broker = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut packets = Vec::new();
            let connect = VariablePacket::decode(&mut s).unwrap();
            packets.push(connect);
            s.write_all(&[0x20, 2, 0, 0]).unwrap(); // CONNACK, accepted
            let publish = VariablePacket::decode(&mut s).unwrap();
            let VariablePacket::PublishPacket(p) = &publish else {
                panic!("{publish:?}")
            };
            let (_, id) = p.qos().split();
            let id = id.unwrap();
            s.write_all(&[0x40, 2, (id >> 8) as u8, id as u8]).unwrap(); // PUBACK
            packets.push(publish);
            packets.push(VariablePacket::decode(&mut s).unwrap());
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            packets
        });
        let mut publisher =
            MqttPublisher::connect(&address, "unit", Duration::from_secs(5)).unwrap();
        assert_eq!(publisher.address(), address);
        publisher
            .publish(&topic_name("t/x").unwrap(), b"{\"a\":1}")
            .unwrap();
        publisher.disconnect().unwrap();
        let packets = broker.join().unwrap();
        let VariablePacket::ConnectPacket(c) = &packets[0] else {
            panic!("{:?}", packets[0])
        };
        assert_eq!(c.client_identifier(), "unit");
        assert!(c.clean_session());
        let VariablePacket::PublishPacket(p) = &packets[1] else {
            panic!("{:?}", packets[1])
        };
        assert_eq!(p.topic_name(), "t/x");
        assert_eq!(p.payload(), b"{\"a\":1}");
        assert!(matches!(packets[2], VariablePacket::DisconnectPacket(_)));
    }
}
