//! A component's tasks: its exported functions, with their WIT types.

use std::sync::atomic::AtomicU64;

use wasmtime::Engine;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre};

use super::store::ComponentState;
use super::wit;
use crate::manifest::TaskSpec;

/// An exported function that cannot be called as a task, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UncallableExport {
    /// Its name, as a task would have it (`func` or `pkg:iface/func`).
    pub name: String,
    /// Its WIT signature.
    pub signature: String,
    /// Why it cannot be a task (it takes a resource, returns a stream, ...).
    pub reason: String,
}

/// The compiled component and, for each task, its export and type.
pub(crate) struct ComponentCode {
    pub(crate) pre: InstancePre<ComponentState>,
    /// How long the last fresh instantiation took, in nanoseconds (0: none yet): spares
    /// are made only for components that instantiate slowly (see `Spares::take`).
    pub(crate) instantiate_nanos: AtomicU64,
    /// By task index, as in the module's task list.
    pub(crate) tasks: Vec<ComponentTask>,
    pub(crate) uncallable: Vec<UncallableExport>,
}

/// One exported function that is a task.
pub(crate) struct ComponentTask {
    pub(crate) export: ComponentExportIndex,
    pub(crate) ty: ComponentFunc,
    pub(crate) signature: String,
}

/// Every exported function: the component's own and its exported instances'.
pub(crate) struct Exports {
    pub(crate) specs: Vec<TaskSpec>,
    pub(crate) tasks: Vec<ComponentTask>,
    pub(crate) uncallable: Vec<UncallableExport>,
}

/// Lists the functions `component` exports, top-level ones by their name and those of
/// an exported instance as `instance/function`, sorting out the ones that cannot be
/// tasks.
pub(crate) fn list(engine: &Engine, component: &Component) -> Exports {
    let mut found = Exports {
        specs: Vec::new(),
        tasks: Vec::new(),
        uncallable: Vec::new(),
    };
    let ty = component.component_type();
    for (name, item) in ty.exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(func) => {
                if let Some(export) = component.get_export_index(None, name) {
                    found.add(name.to_owned(), export, func);
                }
            }
            ComponentItem::ComponentInstance(instance) => {
                let Some(instance_index) = component.get_export_index(None, name) else {
                    continue;
                };
                for (func_name, item) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(func) = item.ty
                        && let Some(export) =
                            component.get_export_index(Some(&instance_index), func_name)
                    {
                        found.add(format!("{name}/{func_name}"), export, func);
                    }
                }
            }
            _ => {}
        }
    }
    found
}

impl Exports {
    fn add(&mut self, name: String, export: ComponentExportIndex, func: ComponentFunc) {
        let signature = wit::signature(&func);
        if let Some(reason) = wit::uncallable_reason(&func) {
            self.uncallable.push(UncallableExport {
                name,
                signature,
                reason,
            });
            return;
        }
        self.specs.push(TaskSpec {
            export: name.clone(),
            name,
            params: Some(func.params().map(|(p, _)| p.to_owned()).collect()),
        });
        self.tasks.push(ComponentTask {
            export,
            ty: func,
            signature,
        });
    }
}
