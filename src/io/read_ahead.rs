//! Reading an input's next chunk while the current one is worked on: the
//! order input's validation and the survey input's checks both wait on
//! their reader otherwise, and either side alone leaves a core idle.

use std::sync::mpsc::sync_channel;
use std::time::Instant;

use crate::error::{Error, Result};

/// Where a read-ahead's time went, in seconds.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ReadAheadTimes {
    /// The reader reading (not waiting for the consumer to take a chunk).
    pub reading: f64,
    /// The consumer working on chunks.
    pub consuming: f64,
    /// The consumer waiting for the next chunk.
    pub waiting: f64,
}

/// Runs `read` on a thread of its own and hands each chunk it gives to
/// `consume` on this one, in order. The channel is a rendezvous: the
/// reader holds its next chunk until the current one is consumed, so at
/// most two chunks are in memory.
///
/// A consumer's error is the result (the reader stops at its next chunk);
/// otherwise the reader's error, if any.
pub fn read_ahead<T: Send>(
    read: impl FnOnce(&mut dyn FnMut(T) -> Result<()>) -> Result<()> + Send,
    mut consume: impl FnMut(T) -> Result<()>,
) -> Result<ReadAheadTimes> {
    std::thread::scope(|scope| {
        let (send, chunks) = sync_channel::<T>(0);
        let reader = scope.spawn(move || {
            let mut reading = 0.0;
            let mut since = Instant::now();
            let read = read(&mut |chunk| {
                reading += since.elapsed().as_secs_f64();
                send.send(chunk)
                    .map_err(|_| Error::Usage("the input's consumer stopped".into()))?;
                since = Instant::now();
                Ok(())
            });
            reading += since.elapsed().as_secs_f64();
            read.map(|()| reading)
        });
        let mut times = ReadAheadTimes::default();
        // `chunks` is dropped when this returns, an error included, which
        // stops the reader at its next send.
        let consumed = (|| {
            let mut since = Instant::now();
            for chunk in chunks {
                times.waiting += since.elapsed().as_secs_f64();
                since = Instant::now();
                consume(chunk)?;
                times.consuming += since.elapsed().as_secs_f64();
                since = Instant::now();
            }
            times.waiting += since.elapsed().as_secs_f64();
            Ok::<(), Error>(())
        })();
        let read = reader.join().expect("an input reader does not panic");
        consumed?;
        times.reading = read?;
        Ok(times)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(
        upto: u32,
        fail_at: Option<u32>,
    ) -> impl FnOnce(&mut dyn FnMut(u32) -> Result<()>) -> Result<()> + Send {
        move |each| {
            for n in 0..upto {
                if Some(n) == fail_at {
                    return Err(Error::Usage(format!("unreadable at {n}")));
                }
                each(n)?;
            }
            Ok(())
        }
    }

    #[test]
    fn every_chunk_is_consumed_in_order() {
        let mut seen = Vec::new();
        read_ahead(numbers(1000, None), |n| {
            seen.push(n);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn a_read_error_is_the_result_after_the_chunks_before_it() {
        let mut seen = Vec::new();
        let e = read_ahead(numbers(10, Some(4)), |n| {
            seen.push(n);
            Ok(())
        })
        .unwrap_err();
        assert!(e.to_string().contains("unreadable at 4"), "{e}");
        assert_eq!(seen, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_consumer_error_stops_the_reader_and_wins() {
        let read_upto = std::sync::atomic::AtomicU32::new(0);
        let read = |each: &mut dyn FnMut(u32) -> Result<()>| {
            for n in 0..1_000_000 {
                read_upto.store(n, std::sync::atomic::Ordering::Relaxed);
                each(n)?;
            }
            Ok(())
        };
        let e = read_ahead(read, |n| match n {
            3 => Err(Error::Usage("bad chunk 3".into())),
            _ => Ok(()),
        })
        .unwrap_err();
        assert!(e.to_string().contains("bad chunk 3"), "{e}");
        // The reader stopped at its next send: chunk 4, held while 3 was
        // consumed, or at most the one after it.
        assert!(read_upto.load(std::sync::atomic::Ordering::Relaxed) <= 5);
    }
}
