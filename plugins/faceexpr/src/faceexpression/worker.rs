// SPDX-License-Identifier: MPL-2.0
//! The analysis thread of `pipelined=true`: one long-lived thread per element, started with the
//! first pipelined frame and ended when the element stops. The streaming thread hands it one frame
//! at a time and takes the annotated frame back when the next one arrives (or at a serialized
//! event, a flush or stop).

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

/// What the thread gives back: the frame with its metas, or the flow error of its analysis.
pub type Analysed = Result<gst::Buffer, gst::FlowError>;

pub struct Worker {
    jobs: Option<SyncSender<gst::Buffer>>,
    results: Receiver<Analysed>,
    /// A frame is with the thread.
    busy: bool,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the thread. It holds the element only weakly, and only while it analyses a frame.
    pub fn spawn(element: &super::FaceExpression) -> std::io::Result<Worker> {
        let element: glib::WeakRef<super::FaceExpression> = element.downgrade();
        let (jobs, queue) = sync_channel::<gst::Buffer>(1);
        let (done, results) = sync_channel::<Analysed>(1);
        let thread = std::thread::Builder::new()
            .name("faceexpression".into())
            .spawn(move || {
                for mut buffer in queue {
                    let result = match element.upgrade() {
                        Some(element) => element.imp().annotate(buffer.make_mut()).map(|_| buffer),
                        None => Err(gst::FlowError::Flushing),
                    };
                    if done.send(result).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Worker {
            jobs: Some(jobs),
            results,
            busy: false,
            thread: Some(thread),
        })
    }

    /// Hands a frame to the thread; the previous one must have been taken back with
    /// [`Worker::finish`].
    pub fn submit(&mut self, buffer: gst::Buffer) -> Result<(), gst::FlowError> {
        debug_assert!(!self.busy, "one frame at a time");
        let jobs = self.jobs.as_ref().ok_or(gst::FlowError::Flushing)?;
        jobs.send(buffer).map_err(|_| gst::FlowError::Error)?;
        self.busy = true;
        Ok(())
    }

    /// Waits for the frame with the thread, if any. `Some(Err(Error))` when the thread is gone
    /// (it panicked).
    pub fn finish(&mut self) -> Option<Analysed> {
        if !self.busy {
            return None;
        }
        self.busy = false;
        Some(self.results.recv().unwrap_or(Err(gst::FlowError::Error)))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has finished its frame.
        self.jobs = None;
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}
