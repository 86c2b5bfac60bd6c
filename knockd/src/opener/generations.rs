//! The opener's configuration generations: the running one, and the
//! earlier ones the watcher may still name in a request because it has not
//! read the newer ones yet.

use std::collections::VecDeque;

use knockd_core::doors::{Loaded, RuntimeDoor};

use super::checks::Refusal;

/// Most earlier generations kept for requests the watcher sent before it
/// read a reload: a storm of reloads faster than the watcher reads them
/// refuses the knocks of the oldest.
const KEPT: usize = 8;

/// The running configuration, commands included, and its predecessors.
#[derive(Debug)]
pub struct Generations {
    /// The running configuration.
    current: Loaded,
    /// Its number: requests name doors by index in a generation.
    number: u32,
    /// Earlier generations, oldest first, with their numbers.
    previous: VecDeque<(u32, Loaded)>,
}

impl Generations {
    /// Generation 0: `loaded`.
    pub fn new(loaded: Loaded) -> Generations {
        Generations {
            current: loaded,
            number: 0,
            previous: VecDeque::new(),
        }
    }

    /// The running configuration.
    pub fn current(&self) -> &Loaded {
        &self.current
    }

    /// `loaded` becomes the running generation; returns its number.
    pub fn push(&mut self, loaded: Loaded) -> u32 {
        let old = std::mem::replace(&mut self.current, loaded);
        self.previous.push_back((self.number, old));
        if self.previous.len() > KEPT {
            self.previous.pop_front();
        }
        self.number = self.number.wrapping_add(1);
        self.number
    }

    /// Door `door` of `generation` (the running one, or one the watcher
    /// may not have left yet). A request naming a generation shows the
    /// watcher has left the older ones: they are forgotten.
    pub fn door(&mut self, generation: u32, door: u32) -> Result<&mut RuntimeDoor, Refusal> {
        let no_such_door = Refusal::NoSuchDoor { generation, door };
        let loaded = if generation == self.number {
            self.previous.clear();
            &mut self.current
        } else {
            let Some(at) = self.previous.iter().position(|(g, _)| *g == generation) else {
                return Err(Refusal::OldGeneration {
                    generation,
                    current: self.number,
                });
            };
            self.previous.drain(..at);
            &mut self.previous.front_mut().ok_or(no_such_door.clone())?.1
        };
        loaded.doors.get_mut(door as usize).ok_or(no_such_door)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(doors: usize) -> Loaded {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("knockd.conf");
        let text: String = (0..doors)
            .map(|n| format!("[d{n}]\nsequence = {}\n", 7000 + n))
            .collect();
        std::fs::write(&conf, text).unwrap();
        knockd_core::doors::load(&conf, dir.path(), 0).unwrap()
    }

    #[test]
    fn a_request_for_an_earlier_generation_opens_it_and_retires_the_older_ones() {
        let mut generations = Generations::new(loaded(1));
        assert_eq!(generations.push(loaded(2)), 1);
        assert_eq!(generations.push(loaded(3)), 2);
        // The watcher has not read generation 2 yet: generation 1's door 1.
        assert_eq!(generations.door(1, 1).unwrap().door.name, "d1");
        assert!(matches!(
            generations.door(1, 2),
            Err(Refusal::NoSuchDoor { .. })
        ));
        // Generation 0 went with that request.
        assert!(matches!(
            generations.door(0, 0),
            Err(Refusal::OldGeneration { .. })
        ));
        assert_eq!(generations.door(2, 2).unwrap().door.name, "d2");
        assert!(matches!(
            generations.door(1, 0),
            Err(Refusal::OldGeneration { .. })
        ));
        assert!(matches!(
            generations.door(3, 0),
            Err(Refusal::OldGeneration { .. })
        ));
    }

    #[test]
    fn at_most_kept_earlier_generations_are_kept() {
        let mut generations = Generations::new(loaded(1));
        for _ in 0..KEPT + 1 {
            generations.push(loaded(1));
        }
        assert!(generations.door(0, 0).is_err());
        assert!(generations.door(1, 0).is_ok());
    }
}
