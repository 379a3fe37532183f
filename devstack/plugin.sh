#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
#
# migtests devstack plugin: the node-side steps of the migtests jobs.
#
# Where each step lands in stack.sh (openstack/devstack 493835a6):
# - "stack install" (stack.sh:999) comes after nova is installed
#   (stack_install_service nova, stack.sh:961): the reference driver goes
#   into devstack's venv there, without dependencies.
# - "stack post-config" (stack.sh:1252) comes after configure_nova
#   (stack.sh:962), whose configure_nova_hypervisor writes [libvirt]
#   live_migration_uri into $NOVA_CONF (lib/nova_plugins/
#   hypervisor-libvirt:48), and before start_nova (stack.sh:1335), whose
#   start_nova_compute copies $NOVA_CONF to $NOVA_CPU_CONF (lib/nova:994)
#   and then starts nova-compute (lib/nova:1046).  The removal of every
#   [libvirt] live_migration_* option, libvirtd's TCP listener and the
#   driver or profile settings land here: in nova-compute's configuration
#   before it exists, in libvirtd before nova-compute connects to it.
# - configure_neutron_nova runs asynchronously from stack.sh:1243 to
#   stack.sh:1282 and edits $NOVA_CONF too; "stack extra" (stack.sh:1424,
#   after start_nova) checks that nova-compute's configuration holds what
#   post-config wrote, and fails the job otherwise.
# - "stack extra" also builds and uploads the counter image (Glance is up,
#   stack.sh:1356), on the node that runs Tempest; "stack test-config"
#   (stack.sh:1502) names it, and the profile's hosts, to Tempest.

function migtests_libvirt_options {
    # The options of the [libvirt] section of $1 named live_migration_*.
    awk '/^\[/ {s = ($0 == "[libvirt]")} s && /^[ \t]*live_migration_[A-Za-z0-9_]*[ \t]*=/ {
        sub(/^[ \t]*/, ""); sub(/[ \t]*=.*/, ""); print }' "$1"
}

function migtests_remove_live_migration_options {
    local option
    for option in $(migtests_libvirt_options $NOVA_CONF); do
        echo "migtests: removing [libvirt] $option from $NOVA_CONF"
        inidelete $NOVA_CONF libvirt $option
    done
}

function migtests_libvirtd_tcp {
    # Nova's shipped default connects to qemu+tcp://<destination>/system.
    # libvirtd listens for it on this node's private address only
    # (HOST_IP), without authentication: a throwaway CI node.  With socket
    # activation libvirtd's listen_addr is ignored: the socket unit's
    # ListenStream is the address.
    local dropin=/etc/systemd/system/libvirtd-tcp.socket.d
    sudo mkdir -p $dropin
    printf '[Socket]\nListenStream=\nListenStream=%s:%s\n' \
        "$HOST_IP" "$MIGTESTS_LIBVIRT_TCP_PORT" |
        sudo tee $dropin/migtests.conf >/dev/null
    local conf=/etc/libvirt/libvirtd.conf
    sudo sed -i -E '/^#?[ \t]*auth_tcp[ \t]*=/d' $conf
    echo 'auth_tcp = "none"' | sudo tee -a $conf >/dev/null
    # Every socket of libvirtd stopped with it, so that nothing starts it
    # again before the TCP socket is there.
    sudo systemctl daemon-reload
    sudo systemctl stop libvirtd.service libvirtd.socket libvirtd-ro.socket \
        libvirtd-admin.socket
    sudo systemctl start libvirtd.socket libvirtd-ro.socket \
        libvirtd-admin.socket libvirtd-tcp.socket
    sudo systemctl start libvirtd.service
    sudo ss -Hltn "sport = :$MIGTESTS_LIBVIRT_TCP_PORT" |
        grep -q "$HOST_IP:$MIGTESTS_LIBVIRT_TCP_PORT" ||
        die $LINENO "libvirtd does not listen on $HOST_IP:$MIGTESTS_LIBVIRT_TCP_PORT"
}

function migtests_python {
    # devstack's venv python (nova and this project installed in it).
    echo ${DEVSTACK_VENV:-$DATA_DIR/venv}/bin/python
}

function migtests_reference_driver {
    # nova-compute through the driver's entry point: Nova loads
    # compute_driver only from inside nova.virt.
    iniset $NOVA_CONF DEFAULT compute_driver \
        reference_libvirt.ReferenceLibvirtDriver
    local dropin=/etc/systemd/system/devstack@n-cpu.service.d
    sudo mkdir -p $dropin
    printf '[Service]\nExecStart=\nExecStart=%s -m reference.nova_compute --config-file %s\n' \
        "$(migtests_python)" "$NOVA_CPU_CONF" |
        sudo tee $dropin/migtests-reference.conf >/dev/null
}

function migtests_profile_settings {
    # The profile's [libvirt] settings for this compute, from the one
    # definition (migtests/cloud/configs.py PROFILES).
    local line
    while IFS= read -r line; do
        iniset $NOVA_CONF libvirt "${line%%=*}" "${line#*=}"
    done < <($(migtests_python) -m migtests.cloud.configs libvirt \
        $MIGTESTS_PROFILE $MIGTESTS_COMPUTE)
}

function migtests_check_compute_conf {
    # What post-config wrote is what nova-compute reads ($NOVA_CPU_CONF).
    local left
    if [[ "$MIGTESTS_PROFILE" == shipped ]]; then
        left=$(migtests_libvirt_options $NOVA_CPU_CONF)
        [[ -z "$left" ]] || die $LINENO \
            "nova-compute's $NOVA_CPU_CONF sets [libvirt] $left: not Nova's shipped migration defaults"
    fi
    if [[ "$MIGTESTS_DRIVER" == reference ]]; then
        [[ "$(iniget $NOVA_CPU_CONF DEFAULT compute_driver)" == \
            reference_libvirt.ReferenceLibvirtDriver ]] || die $LINENO \
            "nova-compute's $NOVA_CPU_CONF does not load the reference driver"
    fi
}

function migtests_counter_image {
    # Built by the local cloud's builder (migtests/cloud/diskimage.py) in a
    # venv of its own, from Debian's packages on the job's Debian mirror,
    # verified with Debian's archive key; a mirror that fails that fails
    # here with the builder's one line.
    local venv=$MIGTESTS_IMAGE_DIR/venv image
    python3 -m venv $venv
    $venv/bin/pip install -q libarchive-c
    $venv/bin/pip install -q --no-deps $MIGTESTS_DIR
    image=$($venv/bin/python -m migtests.cloud.diskimage $MIGTESTS_IMAGE_DIR \
        --debian-mirror "$MIGTESTS_DEBIAN_MIRROR" \
        --debian-suite $MIGTESTS_DEBIAN_SUITE | tail -n 1) ||
        die $LINENO "the counter image could not be built from $MIGTESTS_DEBIAN_MIRROR"
    MIGTESTS_IMAGE_ID=$(openstack --os-cloud devstack-admin image create \
        --public --disk-format raw --container-format bare \
        --file "$image" -f value -c id migtests-counter)
    echo $MIGTESTS_IMAGE_ID > $MIGTESTS_IMAGE_DIR/image-id
}

function migtests_tempest_config {
    iniset $TEMPEST_CONFIG migtests counter_image_ref \
        "$(cat $MIGTESTS_IMAGE_DIR/image-id)"
    if [[ "$MIGTESTS_PROFILE" != shipped ]]; then
        local line
        while IFS= read -r line; do
            iniset $TEMPEST_CONFIG migtests "${line%%=*}" "${line#*=}"
        done < <($(migtests_python) -m migtests.cloud.configs tempest \
            $MIGTESTS_PROFILE "$MIGTESTS_COMPUTE_HOSTS")
    fi
}

if [[ "$1" == "stack" ]]; then
    case "$2" in
        install)
            # Into devstack's venv beside nova, without dependencies: the
            # stable branch's libraries stay as its constraints made them.
            $(migtests_python) -m pip install --no-deps $MIGTESTS_DIR
            ;;
        post-config)
            if is_service_enabled n-cpu; then
                migtests_remove_live_migration_options
                migtests_libvirtd_tcp
                if [[ "$MIGTESTS_DRIVER" == reference ]]; then
                    migtests_reference_driver
                fi
                if [[ "$MIGTESTS_PROFILE" != shipped ]]; then
                    migtests_profile_settings
                fi
            fi
            ;;
        extra)
            if is_service_enabled n-cpu; then
                migtests_check_compute_conf
            fi
            if is_service_enabled tempest; then
                migtests_counter_image
            fi
            ;;
        test-config)
            if is_service_enabled tempest; then
                migtests_tempest_config
            fi
            ;;
    esac
fi
