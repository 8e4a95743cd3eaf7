//! Tasks: [`Handle::add_task`], [`Handle::post_task`], [`TaskAction`],
//! [`TaskToken`].

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;

use crate::engine::callback::Callback;
use crate::engine::slab::Key;
use crate::error::Error;
use crate::event_loop::Handle;
use crate::registry::{self, ConsumeOnUnwind, Entry, TaskEntry};

/// What a task callback wants done with its task afterwards.
///
/// A callback that returns `()` means [`TaskAction::Done`].
///
/// ```
/// use ivykis::{EventLoop, TaskAction};
///
/// let event_loop = EventLoop::new()?;
/// let mut work = vec![1, 2, 3];
/// // Handles one item per loop iteration, so descriptors are still served
/// // in between.
/// event_loop.handle().add_task(move |_| match work.pop() {
///     Some(item) => {
///         println!("item {item}");
///         TaskAction::Again
///     }
///     None => TaskAction::Done,
/// })?;
/// event_loop.run();
/// # Ok::<(), ivykis::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskAction {
    /// The task is finished and removed; its token becomes stale.
    Done,
    /// Run the same closure again in the next round (the next loop
    /// iteration), keeping the token; nothing is allocated.
    Again,
    /// Keep the task, not posted: its token stays valid and
    /// [`Handle::post_task`] posts it again, without allocating. A parked
    /// task does not keep [`EventLoop::run`](crate::EventLoop::run) going.
    Idle,
}

impl From<()> for TaskAction {
    fn from((): ()) -> TaskAction {
        TaskAction::Done
    }
}

/// Names a task of one loop; returned by [`Handle::add_task`]. It stays
/// valid while the task runs [`Again`](TaskAction::Again), and becomes stale
/// ([`Error::Stale`]) once it is done or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskToken {
    pub(crate) loop_id: u64,
    pub(crate) key: Key,
}

impl Handle {
    /// Runs `callback` once control returns to the loop, before the loop
    /// next sleeps: "do this soon, but not from inside the current call".
    ///
    /// Tasks run in rounds, one round per iteration (after the due timers).
    /// A task added during a round runs in that round, unless it is a task
    /// that already ran in it: a task that returns
    /// [`TaskAction::Again`] runs in the next round, so two such tasks
    /// alternate and the loop still polls descriptors between rounds.
    ///
    /// The callback returns `()` (run once) or a [`TaskAction`].
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use ivykis::EventLoop;
    ///
    /// let event_loop = EventLoop::new()?;
    /// let ran = Rc::new(Cell::new(false));
    /// let flag = ran.clone();
    /// event_loop.handle().add_task(move |_| flag.set(true))?;
    /// assert!(!ran.get()); // not synchronously
    /// event_loop.run();
    /// assert!(ran.get());
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`].
    pub fn add_task<R>(
        &self,
        callback: impl FnMut(&Handle) -> R + 'static,
    ) -> Result<TaskToken, Error>
    where
        R: Into<TaskAction>,
    {
        let loop_id = self.id;
        // Taken inside; on an error it is dropped here, outside the borrows
        // (its drop may run user code).
        let mut callback = Some(callback);
        registry::with_loop(loop_id, |entries, l| {
            let token = TaskToken {
                loop_id,
                key: entries.vacant_key(),
            };
            let callback = RefCell::new(callback.take().expect("taken once"));
            let closure: Rc<dyn Fn(u64)> = Rc::new(move |round| fire(token, &callback, round));
            // Round 0: "never ran", so it joins the current round if one is
            // under way.
            let engine_key = l.tasks.register(Callback::Native(Rc::clone(&closure)), 0);
            let key = entries.insert(Entry::Task(TaskEntry {
                engine_key,
                callback: closure,
                parked: false,
                repost: false,
                last_round: 0,
            }));
            debug_assert_eq!(key, token.key);
            Ok(token)
        })
    }
}

impl Handle {
    /// Posts a task parked by [`TaskAction::Idle`] again, with its closure
    /// and token, allocating nothing; so a program can keep a set of tasks
    /// that post each other and run without heap allocation in steady
    /// state. The fairness rule holds: a task that already ran in the
    /// current round runs in the next one. Posting a task that is posted
    /// already does nothing; posting a task from inside its own callback
    /// makes it run again in the next round, unless the callback returns
    /// [`TaskAction::Done`].
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use ivykis::{EventLoop, TaskAction, TaskToken};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// let runs = Rc::new(Cell::new(0));
    /// let counter = runs.clone();
    /// let task: TaskToken = handle.add_task(move |_| {
    ///     counter.set(counter.get() + 1);
    ///     TaskAction::Idle
    /// })?;
    /// event_loop.run(); // runs it once, then nothing is posted
    /// handle.post_task(task)?;
    /// handle.post_task(task)?; // already posted: no second run
    /// event_loop.run();
    /// assert_eq!(runs.get(), 2);
    /// handle.remove(task)?;
    /// # Ok::<(), ivykis::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`], [`Error::Stale`] (done or removed).
    pub fn post_task(&self, token: TaskToken) -> Result<(), Error> {
        registry::with_loop(self.id, |entries, l| match entries.get_mut(token.key) {
            Some(Entry::Task(entry)) if token.loop_id == self.id => {
                if entry.parked {
                    entry.parked = false;
                    entry.engine_key = l
                        .tasks
                        .register(Callback::Native(entry.callback.clone()), entry.last_round);
                } else if !l.tasks.is_registered(entry.engine_key) {
                    // Its callback is running: `fire` posts it afterwards.
                    entry.repost = true;
                }
                Ok(())
            }
            _ => Err(Error::Stale),
        })
    }
}

/// Runs a task's callback and applies what it returns. `round` is the round
/// the engine runs it in; re-posting with it as the task's last round puts
/// the task in the next round.
fn fire<C, R>(token: TaskToken, callback: &RefCell<C>, round: u64)
where
    C: FnMut(&Handle) -> R,
    R: Into<TaskAction>,
{
    let handle = Handle::new(token.loop_id);
    let consume_on_unwind = ConsumeOnUnwind {
        id: token.loop_id,
        key: token.key,
    };
    let action = (callback.borrow_mut())(&handle).into();
    consume_on_unwind.disarm();
    let finished = registry::with_loop(token.loop_id, |entries, l| {
        let Some(Entry::Task(entry)) = entries.get_mut(token.key) else {
            // The callback removed its own task.
            return Ok(None);
        };
        let repost = std::mem::take(&mut entry.repost);
        match action {
            TaskAction::Again => {
                entry.engine_key = l
                    .tasks
                    .register(Callback::Native(entry.callback.clone()), round);
                Ok(None)
            }
            TaskAction::Idle if repost => {
                entry.engine_key = l
                    .tasks
                    .register(Callback::Native(entry.callback.clone()), round);
                Ok(None)
            }
            TaskAction::Idle => {
                entry.parked = true;
                entry.last_round = round;
                Ok(None)
            }
            TaskAction::Done => Ok(entries.remove(token.key)),
        }
    });
    drop(finished);
}
